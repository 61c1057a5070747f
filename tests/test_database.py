"""The database under the bot, on SQLite and on PostgreSQL: what `DATABASE_URL` accepts,
what an operator sees when the database cannot be opened, and the storage rules that
must hold on both backends (ids, times, votes racing, `!forgetme`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.core.db import Database
from bot.core.dispatch import RequestContext
from bot.core.settings import Settings, async_database_url
from bot.features.feedback.tables import DISLIKE, LIKE, Feedback
from bot.features.feedback.votes import QUERY, VoteTarget, record_vote
from bot.features.followups.tables import ConversationTurn
from bot.features.privacy.handlers import UserRows, count_user_rows, forget_user
from bot.features.recommend.queries import record_query
from bot.features.recommend.tables import Query
from bot.features.sessions.tables import ListeningSession, SessionEntry
from recommender.followups import Conversation

MUSICBOT = Path(sys.executable).with_name("musicbot")
# Discord snowflakes are 64-bit; real ones are past 2**60 by now.
BIG_ID = 1_234_567_890_123_456_789


# -- DATABASE_URL --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("written", "used"),
    [
        ("sqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
        ("sqlite:////srv/bot/x.db", "sqlite+aiosqlite:////srv/bot/x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        (
            "postgresql://bot:s%40cret@db:5432/music",
            "postgresql+asyncpg://bot:s%40cret@db:5432/music",
        ),
        ("postgres://bot@db/music", "postgresql+asyncpg://bot@db/music"),
        ("postgresql+psycopg2://bot@db/music", "postgresql+asyncpg://bot@db/music"),
        (
            "postgresql://bot@db/music?sslmode=require",
            "postgresql+asyncpg://bot@db/music?ssl=require",
        ),
    ],
)
def test_ordinary_database_urls_are_accepted(written: str, used: str) -> None:
    settings = Settings(_env_file=None, database_url=written)
    assert settings.database_url_resolved == used


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite://", "sqlite+aiosqlite://"])
def test_an_in_memory_sqlite_database_is_refused(url: str) -> None:
    """Each connection would get its own empty database: !history apologised ("no such
    table") and nothing was kept."""
    with pytest.raises(ValueError, match="in-memory SQLite database keeps nothing"):
        Settings(_env_file=None, database_url=url)


def _musicbot_chat(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in {"DISCORD_TOKEN"}}
    environment.update(DATA_DIR=str(tmp_path / "data"), MODEL_DIR=str(tmp_path / "models"), **env)
    return subprocess.run(
        [str(MUSICBOT), "chat"],
        input="bad guy\n",
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "not a database URL; write it like sqlite:///"),
        ("mysql://bot:hunter2@db/music", "'mysql' is not supported; use SQLite or PostgreSQL"),
        ("sqlite://", "an in-memory SQLite database keeps nothing"),
    ],
)
def test_a_bad_database_url_is_one_line_naming_the_setting(
    tmp_path: Path, url: str, says: str
) -> None:
    done = _musicbot_chat(tmp_path, DATABASE_URL=url)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "DATABASE_URL" in lines[0] and says in lines[0]
    assert "hunter2" not in done.stderr, "a password never reaches the terminal"
    assert not (tmp_path / "data").exists(), "nothing is created for a bad setting"


def test_a_database_that_cannot_be_opened_is_one_line_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file where the database's folder should be")
    cases = [
        (
            f"sqlite:///{tmp_path / 'taken' / 'musicbot.db'}",
            "cannot open the SQLite database",
            "point DATABASE_URL (or DATA_DIR) at a writable directory",
        ),
        (  # nothing listens on port 1: PostgreSQL is down
            "postgresql://bot:hunter2@127.0.0.1:1/music",
            "cannot reach PostgreSQL at 127.0.0.1:1 (connection refused)",
            "start the server",
        ),
    ]
    for url, what, fix in cases:
        done = _musicbot_chat(tmp_path, DATABASE_URL=url)
        assert done.returncode != 0, done.stdout
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("musicbot chat: cannot start: DATABASE_URL: "), lines[0]
        assert what in lines[0] and fix in lines[0]
        assert "Traceback" not in done.stderr and "hunter2" not in done.stderr


# -- storage rules on both backends --------------------------------------------------------
@pytest.fixture
async def db(fresh_database_url: str):
    database = Database(
        Settings(_env_file=None, database_url=fresh_database_url).database_url_resolved
    )
    await database.upgrade()
    yield database
    await database.close()


async def test_snowflake_ids_times_and_json_come_back_as_stored(db: Database) -> None:
    asked = datetime(2026, 11, 27, 23, 30, tzinfo=UTC) + timedelta(microseconds=1)
    async with db.writing() as session:
        session.add(
            Query(
                guild_id=BIG_ID,
                channel_id=BIG_ID + 1,
                user_id=BIG_ID + 2,
                query_text="bad guy",
                recommended_track_ids=["a", "b"],
                model_version="v1",
                created_at=asked.astimezone(timezone(timedelta(hours=9))),  # Tokyo time
            )
        )
    async with db.session() as session:
        (row,) = (await session.scalars(sa.select(Query))).all()
        newer = await session.scalar(
            sa.select(sa.func.count()).where(Query.created_at > asked - timedelta(seconds=1))
        )
    assert (row.guild_id, row.channel_id, row.user_id) == (BIG_ID, BIG_ID + 1, BIG_ID + 2)
    assert row.created_at == asked and row.created_at.utcoffset() == timedelta(0)
    assert row.recommended_track_ids == ["a", "b"] and newer == 1


async def test_answers_stored_together_each_get_their_own_rows(db: Database) -> None:
    """A burst of answers is written in one transaction; each member's 👍 and follow-ups
    must still point at that member's own query and state, after rows already there."""
    first = await record_query(db, RequestContext(guild_id=7, user_id=1), "earlier", None, [], "v")
    members = range(BIG_ID, BIG_ID + 40)
    stored = await asyncio.gather(
        *(
            record_query(
                db,
                RequestContext(guild_id=7, channel_id=8, user_id=user),
                f"song {n}",
                "seed",
                [f"pick {n}"],
                "v1",
                Conversation(seeds=["seed"], shown=[f"pick {n}"], last=[f"pick {n}"])
                if n % 3
                else None,  # some answers have nothing to follow up
            )
            for n, user in enumerate(members)
        )
    )
    async with db.session() as session:
        queries = {q.id: q for q in await session.scalars(sa.select(Query))}
        turns = {t.id: t for t in await session.scalars(sa.select(ConversationTurn))}
    assert len(queries) == 41 and len(turns) == 26 and first.query_id in queries
    for n, (user, answer) in enumerate(zip(members, stored, strict=True)):
        query = queries[answer.query_id]
        assert (query.user_id, query.query_text, query.recommended_track_ids) == (
            user,
            f"song {n}",
            [f"pick {n}"],
        )
        assert query.source == "console" and query.created_at is not None  # defaults
        if n % 3:
            turn = turns[answer.turn_id]
            assert (turn.user_id, turn.state["shown"]) == (user, [f"pick {n}"])
        else:
            assert answer.turn_id is None


async def test_a_double_click_stores_one_vote(db: Database) -> None:
    """Two presses of one button arriving together: both answered, one row kept."""
    async with db.writing() as session:
        query = Query(
            guild_id=7,
            channel_id=8,
            user_id=1,
            query_text="bad guy",
            resolved_track_id="seed",
            recommended_track_ids=["t1"],
            model_version="v1",
        )
        session.add(query)
    target = VoteTarget(QUERY, query.id, "t1", "seed")
    for message_id in range(BIG_ID, BIG_ID + 5):  # a few tries: a race is not always lost
        outcomes = await asyncio.gather(
            *(
                record_vote(
                    db,
                    target=target,
                    value=LIKE,
                    guild_id=7,
                    channel_id=8,
                    message_id=message_id,
                    user_id=BIG_ID,
                )
                for _ in range(6)
            )
        )
        assert all(outcome.ok for outcome in outcomes)
    async with db.session() as session:
        votes = (await session.scalars(sa.select(Feedback).order_by(Feedback.message_id))).all()
    # The same pick of the same question on five messages: one vote, on the newest.
    assert [(v.message_id, v.user_id, v.value) for v in votes] == [(BIG_ID + 4, BIG_ID, LIKE)]


async def test_connections_the_server_dropped_are_replaced_not_failed(postgres_server) -> None:
    """After a PostgreSQL restart the pool holds dead connections; requests still work."""
    url = postgres_server.create_database()
    db = Database(async_database_url(url))
    try:
        await db.upgrade()
        assert await count_user_rows(db, ANA) == UserRows()  # leaves a pooled connection
        postgres_server.disconnect_all(url)
        assert await count_user_rows(db, ANA) == UserRows()
    finally:
        await db.close()
        postgres_server.drop_database(url)


ANA, BEN = 11, 12


async def _two_members_rows(db: Database) -> None:
    """Ana's and Ben's queries, votes on each other's answers, a session both added to
    (Ana started it), session votes seeded by either's song, and follow-up state."""
    later = datetime.now(UTC) + timedelta(minutes=30)
    async with db.writing() as session:
        ana_query = Query(
            guild_id=7, channel_id=8, user_id=ANA, query_text="a", resolved_track_id="sa",
            recommended_track_ids=["t1", "t2"], model_version="v1",
        )  # fmt: skip
        ben_query = Query(
            guild_id=7, channel_id=8, user_id=BEN, query_text="b", resolved_track_id="sb",
            recommended_track_ids=["t3", "t4"], model_version="v1",
        )  # fmt: skip
        anas_session = ListeningSession(
            guild_id=7, channel_id=8, name="mix", started_by=ANA, ended_at=later
        )
        bens_session = ListeningSession(
            guild_id=7, channel_id=9, open_channel_id=9, name="b", started_by=BEN
        )
        session.add_all([ana_query, ben_query, anas_session, bens_session])
        await session.flush()
        session.add_all(
            [
                SessionEntry(
                    session_id=anas_session.id, user_id=ANA, user_name="ana", track_id="ea"
                ),
                SessionEntry(
                    session_id=anas_session.id, user_id=BEN, user_name="ben", track_id="eb"
                ),
                SessionEntry(
                    session_id=bens_session.id, user_id=BEN, user_name="ben", track_id="ea"
                ),
                ConversationTurn(
                    guild_id=7,
                    channel_id=8,
                    user_id=ANA,
                    state={},
                    model_version="v1",
                    expires_at=later,
                ),  # fmt: skip
                ConversationTurn(
                    guild_id=7,
                    channel_id=8,
                    user_id=BEN,
                    state={},
                    model_version="v1",
                    expires_at=later,
                ),  # fmt: skip
            ]
        )

        def vote(user: int, message: int, track: str, value: int, **link: object) -> Feedback:
            return Feedback(
                guild_id=7, channel_id=8, message_id=message, user_id=user, track_id=track,
                value=value, **link,
            )  # fmt: skip

        on_ana = {"query_id": ana_query.id, "seed_track_id": "sa"}
        on_ben = {"query_id": ben_query.id, "seed_track_id": "sb"}
        session.add_all(
            [
                vote(ANA, 1, "t1", LIKE, **on_ana),
                vote(BEN, 1, "t2", LIKE, **on_ana),
                vote(ANA, 2, "t3", DISLIKE, **on_ben),
                vote(BEN, 2, "t4", LIKE, **on_ben),
                vote(BEN, 3, "x1", LIKE, session_id=anas_session.id, seed_track_id="ea"),
                vote(BEN, 3, "x2", LIKE, session_id=anas_session.id, seed_track_id="eb"),
                vote(ANA, 3, "x3", LIKE, session_id=anas_session.id, seed_track_id="eb"),
                vote(BEN, 4, "x4", LIKE, session_id=bens_session.id, seed_track_id="ea"),
            ]
        )


async def _everything(db: Database) -> dict[str, set[tuple]]:
    async with db.session() as session:

        async def rows(model: type, *columns: str) -> set[tuple]:
            found = (await session.scalars(sa.select(model))).all()
            return {tuple(getattr(row, c) for c in columns) for row in found}

        return {
            "queries": await rows(Query, "user_id", "query_text"),
            "sessions": await rows(ListeningSession, "name", "started_by"),
            "entries": await rows(SessionEntry, "user_id", "track_id"),
            "turns": await rows(ConversationTurn, "user_id"),
            "votes": await rows(
                Feedback, "user_id", "track_id", "query_id", "session_id", "seed_track_id"
            ),
        }


async def test_forgetme_deletes_the_members_rows_and_unlinks_what_would_name_them(
    db: Database,
) -> None:
    await _two_members_rows(db)
    async with db.session() as session:
        bens_query = await session.scalar(sa.select(Query.id).where(Query.user_id == BEN))
        anas_session, bens_session = (
            await session.scalars(sa.select(ListeningSession.id).order_by(ListeningSession.name))
        ).all()[::-1]

    counted = await count_user_rows(db, ANA)
    assert counted == UserRows(queries=1, session_entries=1, feedback=3, conversations=1)
    assert await forget_user(db, ANA) == counted

    after = await _everything(db)
    assert after["queries"] == {(BEN, "b")}
    assert after["sessions"] == {("A listening session", 0), ("b", BEN)}, (
        "Ana's session forgets who started it and the name she gave it"
    )
    assert after["entries"] == {(BEN, "eb"), (BEN, "ea")}
    assert after["turns"] == {(BEN,)}
    assert after["votes"] == {
        (BEN, "t2", None, None, None),  # on Ana's answer: kept, but no longer says what she asked
        (BEN, "t4", bens_query, None, "sb"),
        (BEN, "x1", None, anas_session, None),  # seeded by the song Ana added: seed dropped
        (BEN, "x2", None, anas_session, "eb"),
        (BEN, "x4", None, bens_session, "ea"),  # the same song added by Ben: his, kept
    }
    assert await count_user_rows(db, ANA) == UserRows()
