"""The handler framework every front end shares: request context, command registry,
the services a handler may use, and `dispatch`, which applies the common rules (length
limit, usage hint, cooldown, admin-only, error → apology) before calling a handler.

Add a command: write `async def handler(services, ctx, text) -> Reply` in a feature's
handlers.py, decorate it with `@command("name", usage=..., summary=..., examples=...)`, and
list the module in `bot.features.HANDLERS`. It then works in `musicbot chat`, as a Discord
prefix command, and shows in `!help` (bot/README.md has the whole recipe).
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeVar

from bot.core.compute import Busy, Compute, single_threaded_blas
from bot.core.db import Database, Deadlines
from bot.core.db_outage import StorageUnavailable, storage_failure
from bot.core.metrics import Metrics
from bot.core.ratelimit import Cooldowns
from bot.core.replies import Kind, Quiet, Reply, slow_down_reply
from bot.core.serving import ModelHolder, ModelNotReady, load_or_train, settle_memory
from bot.core.settings import Settings
from bot.core.text import clean

log = logging.getLogger(__name__)
T = TypeVar("T")
Q = TypeVar("Q")

# Where a request came from (RequestContext.source, stored with each query).
CONSOLE = "console"
PREFIX = "prefix"
SLASH = "slash"
BUTTON = "button"


@dataclass(frozen=True)
class RequestContext:
    """Who asks, where, and how to answer later; the same for Discord and the console.

    guild_id/channel_id are 0 outside a server (console, direct messages). `mentions`
    maps the ids of members mentioned in the message to their display names, so handlers
    can name them without Discord objects. `replying_to` is the id of the bot's message
    this request answers: the message a Discord reply quotes, or the one a pressed button
    sits under (None otherwise); follow-ups steer that answer. `followup` (when set)
    posts another Reply to the same place later, e.g. when a long job such as a retrain
    ends.
    """

    guild_id: int = 0
    channel_id: int = 0
    user_id: int = 0
    user_name: str = "you"
    # May run the admin commands (retrain, rollback, export): the bot's owner, or an admin
    # of a home server (HOME_GUILD_IDS). `manages_server`: an admin of this server, who
    # may end anyone's session here.
    is_admin: bool = False
    manages_server: bool = False
    source: str = CONSOLE
    mentions: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    replying_to: int | None = None
    followup: Callable[[Reply], Awaitable[None]] | None = None

    def __post_init__(self) -> None:
        # Names members chose are shown in titles and stored with sessions: one clean
        # line, the same on every database (see `clean`).
        object.__setattr__(self, "user_name", clean(self.user_name) or "someone")
        if any(clean(name) != name for name in self.mentions.values()):
            cleaned = {uid: clean(name) or f"Member {uid}" for uid, name in self.mentions.items()}
            object.__setattr__(self, "mentions", MappingProxyType(cleaned))

    @property
    def is_console(self) -> bool:
        return self.source == CONSOLE


Handler = Callable[["Services", RequestContext, str], Awaitable[Reply]]


@dataclass(frozen=True)
class CommandSpec:
    """A registered command. `usage` is the argument part, e.g. "<song>"."""

    name: str
    handler: Handler
    summary: str
    usage: str = ""
    examples: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    requires_text: bool = False  # empty text answers with a usage hint
    cooldown: bool = False  # counts against the per-user flood limit
    admin_only: bool = False
    hidden: bool = False  # left out of !help
    max_chars: int | None = None  # None: settings.max_query_chars


class Registry:
    """Command name (and aliases) → CommandSpec."""

    def __init__(self) -> None:
        self._specs: dict[str, CommandSpec] = {}
        self._names: dict[str, str] = {}

    def add(self, spec: CommandSpec, replace: bool = False) -> CommandSpec:
        for name in (spec.name, *spec.aliases):
            owner = self._names.get(name.lower())
            if owner is not None and owner != spec.name and not replace:
                raise ValueError(f"command name {name!r} is already used by {owner!r}")
        old = self._specs.get(spec.name)
        if old is not None:
            if not replace:
                raise ValueError(f"command {spec.name!r} is already registered")
            for name in (old.name, *old.aliases):
                self._names.pop(name.lower(), None)
        self._specs[spec.name] = spec
        for name in (spec.name, *spec.aliases):
            self._names[name.lower()] = spec.name
        return spec

    def remove(self, name: str) -> CommandSpec | None:
        spec = self.get(name)
        if spec is not None:
            del self._specs[spec.name]
            for alias in (spec.name, *spec.aliases):
                self._names.pop(alias.lower(), None)
        return spec

    def get(self, name: str) -> CommandSpec | None:
        canonical = self._names.get(name.lower())
        return None if canonical is None else self._specs[canonical]

    def specs(self) -> list[CommandSpec]:
        return list(self._specs.values())


REGISTRY = Registry()


def command(name: str, **options: Any) -> Callable[[Handler], Handler]:
    """Register a handler in the default registry (see the module docstring)."""

    def decorate(handler: Handler) -> Handler:
        REGISTRY.add(CommandSpec(name=name, handler=handler, **options), replace=True)
        return handler

    return decorate


def load_handlers() -> Registry:
    """A new Registry of every feature's commands in `!help` order: by module as listed in
    `bot.features.HANDLERS` (whatever imported them first), then as declared."""
    from bot.features import HANDLERS, import_handlers  # the features register into REGISTRY

    import_handlers()
    rank = {module: index for index, module in enumerate(HANDLERS)}
    ordered = Registry()
    for spec in sorted(REGISTRY.specs(), key=lambda s: rank.get(s.handler.__module__, len(rank))):
        ordered.add(spec)
    return ordered


class Services:
    """What handlers use: settings, the model holder, the database, flood control.

    One per process. `start()` does the async start-up (migrations, model) for both the
    Discord bot's setup_hook and the console.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        models: ModelHolder | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.settings = settings
        self.models = models or ModelHolder()
        self.db = Database(
            settings.database_url_resolved,
            Deadlines(
                connect=settings.database_connect_timeout_seconds,
                statement=settings.database_statement_timeout_seconds,
                checkout=settings.database_pool_timeout_seconds,
            ),
        )
        self.cooldowns = Cooldowns(settings.cooldown_rate, settings.cooldown_seconds)
        self.metrics = Metrics()  # shown on METRICS_PORT when it is set
        # The commands without a cooldown of their own count here: a flood of cheap ones
        # (!status, !history) costs its sender, not everyone else's answers.
        self.flood = Cooldowns(
            settings.command_flood_rate if settings.cooldown_rate else 0,
            settings.cooldown_seconds,
        )
        # Worker threads for model work, so the event loop keeps answering (compute()).
        self.computing = Compute()
        # Its own Registry, so one bot adding or removing a command never changes another's.
        self.registry = registry or load_handlers()
        self.started_at = datetime.now(UTC)
        # Other features keep their per-process objects here (scheduler, views, ...).
        self.extras: dict[str, Any] = {}
        self._closers: list[Callable[[], Awaitable[None]]] = []

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Run `closer` when the process stops, before the database closes (newest first):
        how a feature ends its background work (a retrain's child process, ...)."""
        self._closers.append(closer)

    async def start(self, say: Callable[[str], None] | None = None) -> None:
        """Upgrade the database to head, then load (or train once) the model; `say`
        hears how it goes (the first training's progress included)."""
        await self.db.upgrade()
        if not self.models.ready:
            model = await load_or_train(self.settings, say)
            self.models.swap(model)
        else:  # handed a model already loaded: as swap does for one it loads
            settle_memory()
        single_threaded_blas()

    async def compute(
        self,
        fn: Callable[..., T],
        /,
        *args: Any,
        heavy: bool = False,
        searching: bool = False,
        **kwargs: Any,
    ) -> T:
        """`fn(*args, **kwargs)` in a worker thread: how every handler calls the model
        (resolve, similar, follow-ups, group ranking, explanations), so no request holds
        up the others. `heavy` for work that can take a second (a big session's ranking):
        it has its own threads and, when too many wait, raises `Busy` (dispatch answers);
        `searching` for a request that must search (see `Compute.run`)."""
        return await self.computing.run(fn, *args, heavy=heavy, searching=searching, **kwargs)

    async def batched(self, fn: Callable[[list[Q]], Sequence[T]], question: Q) -> T:
        """`fn`'s answer to `question`, asked together with the same questions others are
        asking right now (`Compute.batched`): how a burst of `!recommend`s is scored."""
        return await self.computing.batched(fn, question)

    async def close(self) -> None:
        closers, self._closers = self._closers, []
        for closer in reversed(closers):
            try:
                await closer()
            except Exception:
                log.exception("error while stopping %r", closer)
        self.computing.close()
        await self.db.close()

    async def handle(self, name: str, ctx: RequestContext, text: str = "") -> Reply:
        started = time.perf_counter()
        reply = await dispatch(self, name, ctx, text)
        spec = self.registry.get(name)
        self.metrics.answered(
            spec.name if spec is not None else "unknown",
            reply,
            time.perf_counter() - started,
            failed=reply.title == APOLOGY_TITLE,
        )
        return reply


MENTION = re.compile(r"<@!?(\d{15,21})>")


async def dispatch(services: Services, name: str, ctx: RequestContext, text: str = "") -> Reply:
    """Run command `name` for `ctx`, applying the shared rules. Never raises."""
    prefix = services.settings.command_prefix
    spec = services.registry.get(name)
    if spec is None:
        return Reply.error(
            "Unknown command", f"`{prefix}{name[:40]}` isn't a command. Try `{prefix}help`."
        )
    text = clean(text or "")  # where every command's words come in: cleaned once
    limit = spec.max_chars or services.settings.max_query_chars
    if len(text) > limit:
        return Reply.error(
            "That's too long",
            f"Please keep it under {limit} characters (that was {len(text)}).",
        )
    if spec.requires_text and not text:
        return usage_reply(spec, prefix)
    if spec.admin_only and not ctx.is_admin:
        return Reply.error(
            "Admins only",
            f"`{prefix}{spec.name}` needs Manage Server or an admin role"
            + (" in one of the bot's home servers" if services.settings.home_guild_ids else "")
            + ", or being the bot's owner.",
        )
    if not ctx.is_console:
        # Model work has its own, tighter budget; every other command the flood limit.
        limiter = services.cooldowns if spec.cooldown else services.flood
        wait = limiter.hit(ctx.user_id)
        if wait:
            # Told once per window; the rest of a flood is ignored, not answered one by one.
            quiet = () if limiter.first_refusal(ctx.user_id) else (Quiet(),)
            return slow_down_reply(wait, quiet)
    try:
        return await spec.handler(services, ctx, text)
    except ModelNotReady:
        return Reply.info("Warming up", "The model is still loading; try again in a moment.")
    except Busy:
        return Reply.info(
            "Busy right now", "Many big requests are waiting; try again in a few seconds."
        )
    except Exception:
        return apology(name, ctx)


APOLOGY_TITLE = "Sorry, something went wrong"


def apology(name: str, ctx: RequestContext, error: BaseException | None = None) -> Reply:
    """Log the traceback with a short reference and answer without any detail.

    Call it inside an `except` block, or pass the exception. A database that cannot be
    used right now is no bug: that gets `storage_reply`, and no traceback (the database's
    own health logs the outage once a minute).
    """
    failure = error if error is not None else sys.exc_info()[1]
    if failure is not None and storage_failure(failure):
        return storage_reply(failure)
    ref = secrets.token_hex(3)
    log.error(
        "command %r failed [ref %s] (source=%s guild=%s channel=%s user=%s)",
        name,
        ref,
        ctx.source,
        ctx.guild_id,
        ctx.channel_id,
        ctx.user_id,
        exc_info=error if error is not None else True,
    )
    return Reply.error(
        APOLOGY_TITLE,
        f"That one failed on my side and has been logged (ref `{ref}`). Please try again.",
    )


def storage_reply(error: BaseException) -> Reply:
    """One line for a command that needs the database while it cannot be used."""
    if isinstance(error, StorageUnavailable) and error.full:
        return Reply.error(
            "Storage is full right now",
            "My storage is full, so I can't save that right now and nothing was changed; "
            "recommendations still work. Please try again later.",
        )
    return Reply.error(
        "Storage unavailable right now",
        "I can't reach my storage right now, so I can't do that; recommendations still "
        "work. Please try again in a few minutes.",
    )


def usage_reply(spec: CommandSpec, prefix: str) -> Reply:
    lines = [f"`{prefix}{spec.name} {spec.usage}`".replace(" `", "`") + f": {spec.summary}"]
    if spec.examples:
        lines.append("e.g. " + ", ".join(f"`{prefix}{spec.name} {ex}`" for ex in spec.examples))
    return Reply(
        title=f"How to use {prefix}{spec.name}", description="\n".join(lines), kind=Kind.INFO
    )
