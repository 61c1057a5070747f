"""Every knob the bot reads, in one place (environment variables and `.env`).

`recommender/` reads no settings; the bot passes plain values down. `.env.example`
documents each field; keep the two in step (a test checks that).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from recommender.ranking import DEFAULT_ARTIST_CAP, ArtistCap
from recommender.recommender import DEFAULT_MODEL

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATASET = REPO_ROOT.parent / "shared" / "data" / "spotify_songs.csv"

DATABASE_URL_EXAMPLES = (
    "sqlite:///data/musicbot.db or postgresql://user:password@host:5432/musicbot"
)
# The async driver each supported database is reached with (both ship with the bot).
ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


def _default_data_path() -> Path:
    """The shared copy of the dataset when it exists (dev and CI), else one under ./data."""
    return SHARED_DATASET if SHARED_DATASET.exists() else Path("data") / "spotify_songs.csv"


class Settings(BaseSettings):
    """Bot configuration. Names are the environment variable names (case-insensitive)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # `DATA_PATH=` in .env means "use the default", as .env.example shows.
        env_ignore_empty=True,
    )

    # -- Discord -------------------------------------------------------------------------
    discord_token: SecretStr | None = None
    command_prefix: str = "!"
    # Typed prefix commands need the privileged message-content intent; off = slash
    # commands only (mentioning the bot still works as a prefix) and no privileged intent.
    prefix_commands: bool = True
    # Seed /recommend and /session add from the member's Spotify presence (privileged
    # presences intent); off by default.
    listening: bool = False
    # Members with one of these role ids count as admins (besides Manage Server).
    admin_role_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    # Servers whose admins may run the commands that change the one shared model or take
    # data out of it (retrain, rollback, export); the bot's owner always may. Unset = the
    # admins of every server the bot is in (fine for a bot in your own servers only).
    home_guild_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    # Sharding, so several processes split the guilds: the number of shards in all, and
    # which of them (0 .. SHARD_COUNT-1) this process connects. Unset = one process, one
    # connection, as Discord allows below 2,500 guilds; SHARD_COUNT alone = every shard here.
    shard_count: int | None = Field(default=None, ge=1)
    shard_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)

    # -- storage -------------------------------------------------------------------------
    data_dir: Path = Path("data")
    # Empty means: a SQLite file under DATA_DIR (see `database_url_resolved`). Ordinary
    # URLs (sqlite:///x.db, postgresql://...) are turned into their async-driver form.
    database_url: str = ""
    # How long one database call may take before the bot gives up on it and answers
    # without the database (recommendations still work; history, sessions and votes say
    # storage is unavailable until it is back): opening a connection, one statement (on
    # SQLite also waiting for another process's lock), and waiting for a free connection.
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=600)
    database_statement_timeout_seconds: float = Field(default=5.0, gt=0, le=3600)
    database_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=600)
    data_path: Path = Field(default_factory=_default_data_path)
    # If DATA_PATH is missing, fetch the public TidyTuesday copy there (sha256 checked).
    download_dataset: bool = True
    model_dir: Path = Path("models")
    # Model used when MODEL_DIR holds none and the bot trains one at start-up.
    train_model: str = DEFAULT_MODEL
    # Threads training computes with; empty = one per core this process may use (its CPU
    # affinity). Fewer leave cores to the bot and to other work on a shared machine.
    train_threads: int | None = Field(default=None, ge=1)
    # Where training computes: auto = a GPU when the machine has one, else the CPU.
    train_device: Literal["auto", "cpu", "cuda"] = "auto"

    # -- behaviour -----------------------------------------------------------------------
    max_query_chars: int = Field(default=200, ge=1, le=4000)
    # Per-user flood control: at most COOLDOWN_RATE recommend queries per COOLDOWN_SECONDS
    # (0 = off); past it, one "slow down" per window and the rest are ignored.
    cooldown_rate: int = Field(default=3, ge=0)
    cooldown_seconds: float = Field(default=10.0, ge=0)
    # And at most COMMAND_FLOOD_RATE of the other commands (!status, !history, !help, ...)
    # per COOLDOWN_SECONDS (0 = off; off too with COOLDOWN_RATE=0): hundreds of !status
    # from one member must not slow everyone else's answers.
    command_flood_rate: int = Field(default=20, ge=0)
    recommend_count: int = Field(default=10, ge=1, le=25)
    history_count: int = Field(default=10, ge=1, le=25)
    # Artist spread of an answer: at most MAX_SAME_ARTIST songs by the asked-for song's
    # artist and MAX_PER_OTHER_ARTIST by any other, and each repeat of an artist must
    # score ARTIST_REPEAT_PENALTY (cosine) above the next artist's best to get in.
    # `!refine same artist` / `more from this artist` lift it for that answer.
    max_same_artist: int = Field(default=DEFAULT_ARTIST_CAP.per_query_artist, ge=0)
    max_per_other_artist: int = Field(default=DEFAULT_ARTIST_CAP.per_artist, ge=1)
    artist_repeat_penalty: float = Field(default=DEFAULT_ARTIST_CAP.repeat_penalty, ge=0)
    log_level: str = "INFO"
    # Also log to this file (rotated at 10 MB, five old files kept); empty = stderr only.
    log_file: Path | None = None
    # Health check and Prometheus metrics over HTTP on this port (GET /health, /metrics);
    # empty = off. METRICS_HOST is where it listens: this machine only by default.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"

    # -- retraining (bot/features/retrain/) ---------------------------------------------
    # Crontab schedule in UTC ("minute hour day month weekday"), or "off".
    retrain_cron: str = "0 4 * * 1"
    # A run that takes longer is stopped and marked failed; the old model stays.
    retrain_timeout_seconds: float = Field(default=3600.0, gt=0)
    # Previous model versions kept besides the current one (for rollback).
    retrain_keep_versions: int = Field(default=3, ge=0)
    # Training epochs for retrains; empty = the trainer's default.
    retrain_epochs: int | None = Field(default=None, ge=1)
    # Address-space cap for the training process in MB; 0 = none.
    retrain_memory_limit_mb: int = Field(default=0, ge=0)
    # How much lower the training process's CPU priority is than the bot's (nice, 0-19),
    # so the bot keeps answering while a retrain runs on the same cores.
    retrain_niceness: int = Field(default=10, ge=0, le=19)
    # Channel id where scheduled runs post their outcome; empty = only logs and !status.
    retrain_channel_id: int | None = None
    # The blessing gate a retrained model must pass before it serves (`!retrain force`
    # skips it): at most this share of the serving model's tracks may be missing from the
    # new catalog, and its probe hit rate may fall by at most this much (absolute, on top
    # of the probe's own noise margin).
    retrain_max_catalog_shrink: float = Field(default=0.10, ge=0, le=1)
    retrain_max_quality_drop: float = Field(default=0.02, ge=0, le=1)
    # The least a new model must answer with, checked even by `!retrain force`: at least
    # RETRAIN_MIN_TRACKS tracks or RETRAIN_MIN_TRACK_SHARE of the serving model's, whichever
    # is fewer, and a probe hit rate of RETRAIN_MIN_HIT_RATE or half the serving model's,
    # whichever is lower (a one-row CSV would otherwise go live and find nothing).
    retrain_min_tracks: int = Field(default=1000, ge=1)
    retrain_min_track_share: float = Field(default=0.5, ge=0, le=1)
    retrain_min_hit_rate: float = Field(default=0.01, ge=0, le=1)
    # The retrain lease: renewed every HEARTBEAT seconds while a run is alive, it expires
    # LEASE seconds after the last beat (a crashed process blocks retraining that long).
    retrain_heartbeat_seconds: float = Field(default=10.0, gt=0)
    retrain_lease_seconds: float = Field(default=30.0, gt=0)
    # Every process checks MODEL_DIR's pointer this often and serves a model another
    # process published (or rolled back to); 0 = never.
    model_poll_seconds: float = Field(default=30.0, ge=0)

    # -- group sessions (bot/features/sessions/) ----------------------------------------
    # A session nobody adds to or asks about for this long ends by itself.
    session_idle_hours: float = Field(default=6.0, gt=0)
    # The most songs one session holds: ranking a session's next songs takes longer the
    # more songs it has (about 0.7 s at 300 on one core).
    session_max_songs: int = Field(default=300, ge=1, le=2000)

    def __init__(self, **values: Any) -> None:
        # Where .env is looked for: a supervisor's working directory is rarely the bot's.
        values.setdefault("_env_file", env_files())
        super().__init__(**values)

    @field_validator("prefix_commands", "listening", "download_dataset", mode="before")
    @classmethod
    def _on_or_off(cls, value: object) -> object:
        """Name the words a switch accepts (pydantic only says "a valid boolean")."""
        if isinstance(value, str) and value.strip().lower() not in SWITCH_WORDS:
            raise ValueError(
                f"{value.strip()!r} is not a switch; write on or off (or true/false, yes/no, 1/0)"
            )
        return value

    # -- songs the catalog lacks (bot/features/catalog/) ----------------------------------
    # Where a song the catalog lacks is looked up: auto = Spotify when SPOTIFY_CLIENT_ID and
    # SPOTIFY_CLIENT_SECRET are set, else MusicBrainz (no key); off = never (no song text
    # leaves the bot, and a Spotify presence adds nothing either).
    lookup: Literal["auto", "spotify", "musicbrainz", "off"] = "auto"
    spotify_client_id: str = ""
    spotify_client_secret: SecretStr | None = None
    # Each service's base URL: a proxy, a mirror or a test server can stand in.
    spotify_api_url: str = "https://api.spotify.com/v1"
    spotify_token_url: str = "https://accounts.spotify.com/api/token"
    musicbrainz_url: str = "https://musicbrainz.org/ws/2"

    @field_validator("lookup", mode="before")
    @classmethod
    def _lookup_word(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("spotify_api_url", "spotify_token_url", "musicbrainz_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("write a URL starting with https:// (or http:// for a local server)")
        return value

    @field_validator("admin_role_ids", "home_guild_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        """Accept `1,2,3` (how people write it in .env) as well as a JSON list."""
        if isinstance(value, str):
            parts = [part for part in value.replace(" ", "").split(",") if part]
            if not all(part.isdigit() for part in parts):
                raise ValueError("write ids (numbers) separated by commas, e.g. 123,456")
            return [int(part) for part in parts]
        return value

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _split_shard_ids(cls, value: object) -> object:
        """`0,1` as in .env; a word that is not a shard number gets a readable message."""
        if isinstance(value, str):
            parts = [part for part in value.replace(" ", "").split(",") if part]
            if not all(part.isdigit() for part in parts):
                raise ValueError("write shard numbers separated by commas, e.g. 0,1")
            return [int(part) for part in parts]
        return value

    @model_validator(mode="after")
    def _shards_fit_the_count(self) -> Settings:
        if not self.shard_ids:
            return self
        if self.shard_count is None:
            raise ValueError(
                "SHARD_IDS needs SHARD_COUNT, the number of shards across all processes"
            )
        wrong = sorted({i for i in self.shard_ids if not 0 <= i < self.shard_count})
        if wrong:
            raise ValueError(
                f"SHARD_IDS {','.join(map(str, wrong))} out of range: with "
                f"SHARD_COUNT={self.shard_count} the shards are 0 to {self.shard_count - 1}"
            )
        if len(set(self.shard_ids)) != len(self.shard_ids):
            raise ValueError("SHARD_IDS lists a shard twice")
        return self

    @field_validator("retrain_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        """Refuse a bad schedule at start-up rather than silently never retraining."""
        from bot.features.retrain.schedule import parse_cron

        parse_cron(value)  # raises ValueError with a readable message
        return value.strip()

    @field_validator("database_url")
    @classmethod
    def _async_database_url(cls, value: str) -> str:
        return async_database_url(value)

    @model_validator(mode="after")
    def _lease_outlives_beats(self) -> Settings:
        if self.retrain_lease_seconds <= self.retrain_heartbeat_seconds:
            raise ValueError(
                "RETRAIN_LEASE_SECONDS must be longer than RETRAIN_HEARTBEAT_SECONDS "
                "(e.g. 30 and 10), or a live run loses its lease between two beats"
            )
        return self

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        """Refuse a level logging does not know here, not as a traceback once running."""
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("use one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("command_prefix")
    @classmethod
    def _prefix_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("COMMAND_PREFIX must not be blank")
        return value.strip()

    @model_validator(mode="after")
    def _hints_name_slash_commands(self) -> Settings:
        """Without prefix commands, answers that name a command (`!more`, `!help`) name
        the slash command instead: the only form members can type then."""
        if not self.prefix_commands:
            self.command_prefix = "/"
        return self

    @property
    def database_url_resolved(self) -> str:
        """DATABASE_URL, or the default SQLite file `DATA_DIR/musicbot.db`."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'musicbot.db').resolve()}"

    @property
    def artist_cap(self) -> ArtistCap:
        """The artist spread every answer gets (see MAX_SAME_ARTIST)."""
        return ArtistCap(
            per_artist=self.max_per_other_artist,
            per_query_artist=self.max_same_artist,
            repeat_penalty=self.artist_repeat_penalty,
        )

    @property
    def token(self) -> str | None:
        """The raw token, only for `bot.run`; the SecretStr keeps it out of reprs and logs."""
        if self.discord_token is None:
            return None
        raw = self.discord_token.get_secret_value().strip()
        return raw or None


SWITCH_WORDS = frozenset({"on", "off", "true", "false", "yes", "no", "1", "0", "t", "f", "y", "n"})


class EnvFileMissing(ValueError):
    """MUSICBOT_ENV names a file that is not there."""


def env_files() -> tuple[Path, ...]:
    """The .env files settings are read from, later ones winning over earlier ones.

    MUSICBOT_ENV names one file (a service's unit or container sets it); otherwise
    `.env` next to DATA_DIR and inside it when DATA_DIR is in the environment, then
    `.env` in the current directory. Variables in the environment win over all files."""
    named = os.environ.get("MUSICBOT_ENV", "").strip()
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise EnvFileMissing(f"MUSICBOT_ENV: no settings file at {path}")
        return (path,)
    files: list[Path] = []
    data_dir = os.environ.get("DATA_DIR", "").strip()
    if data_dir:
        data = Path(data_dir).expanduser().absolute()
        files += [data.parent / ".env", data / ".env"]
    files.append(Path(".env").absolute())
    unique = dict.fromkeys(files)  # DATA_DIR in the current directory: its .env once
    return tuple(unique)


def async_database_url(value: str) -> str:
    """`value` with the async driver the bot uses: sqlite:///x.db → sqlite+aiosqlite:///x.db,
    postgresql:// or postgres:// → postgresql+asyncpg://; "" stays "" (the default file).

    A URL that does not parse, or names a database the bot cannot use, is refused with a
    message that says how to write it (never echoing the value: it may hold a password).
    """
    value = value.strip()
    if not value:
        return value
    try:
        url = make_url(value)
    except ArgumentError:
        raise PydanticCustomError(
            "database_url", f"not a database URL; write it like {DATABASE_URL_EXAMPLES}"
        ) from None
    backend = url.get_backend_name()
    backend = "postgresql" if backend == "postgres" else backend
    if backend not in ASYNC_DRIVERS:
        raise PydanticCustomError(
            "database_url",
            "{backend} is not supported; use SQLite or PostgreSQL, e.g. {examples}",
            {"backend": repr(backend), "examples": DATABASE_URL_EXAMPLES},
        )
    if backend == "sqlite" and url.database in (None, "", ":memory:"):
        # Each connection would get its own empty database: nothing would be kept, and
        # the tables the start-up creates would be missing for the next command.
        raise PydanticCustomError(
            "database_url",
            "an in-memory SQLite database keeps nothing (history, sessions and votes would "
            "vanish); name a file, e.g. sqlite:///data/musicbot.db",
        )
    url = url.set(drivername=ASYNC_DRIVERS[backend])
    if "sslmode" in url.query and "ssl" not in url.query:
        # libpq's spelling (what hosting providers hand out); asyncpg calls it `ssl`.
        url = url.update_query_dict({"ssl": url.query["sslmode"]}).difference_update_query(
            ["sslmode"]
        )
    return url.render_as_string(hide_password=False)
