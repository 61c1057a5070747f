"""People's data: `!forgetme` (delete what the bot stored about you) and admin `!export`.

`!forgetme` first says what it will delete and asks for a confirmation (a button on
Discord, `!forgetme confirm` in the console). It deletes the caller's queries, session
songs and votes in every server, and unlinks what pointed at them: other members' votes
on the caller's answers lose their seed song, sessions the caller started forget who
started them and the name they were given. Retraining reads the database, so the next
model no longer uses any of it.

`!export` gives a server its ended sessions (the community playlists the model learns
from) as a CSV in the dataset's schema, anonymised: no member ids or names, playlist ids
numbered per export.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update

from bot.core.db import Database
from bot.core.dispatch import RequestContext, Services, command
from bot.core.replies import Action, Attachment, Kind, Reply
from bot.core.text import code
from bot.features.feedback.tables import Feedback
from bot.features.followups.tables import ConversationTurn
from bot.features.recommend.tables import Query
from bot.features.sessions.queries import CommunityPlaylist, community_playlists
from bot.features.sessions.tables import ListeningSession, SessionEntry
from recommender import Recommender
from recommender.data import DATASET_COLUMNS

# The dataset's own column order (spotify_songs.csv), so an export drops in as a catalog.
CSV_COLUMNS = DATASET_COLUMNS
INTEGER_COLUMNS = frozenset({"track_popularity", "key", "mode", "duration_ms"})
CONFIRM_WORDS = frozenset({"confirm", "yes"})
FORGOTTEN_SESSION_NAME = "A listening session"


@dataclass(frozen=True)
class ConfirmForget(Action):
    """Ask member `user_id` to confirm deleting their data (buttons only they can press)."""

    user_id: int


@dataclass(frozen=True)
class UserRows:
    """How many rows of each kind belong to one member."""

    queries: int = 0
    session_entries: int = 0
    feedback: int = 0
    conversations: int = 0  # follow-up state (what `!more` and replies continue from)

    @property
    def total(self) -> int:
        return self.queries + self.session_entries + self.feedback + self.conversations

    def describe(self) -> str:
        def n(count: int, one: str, many: str) -> str:
            return f"{count} {one if count == 1 else many}"

        return ", ".join(
            (
                n(self.queries, "query", "queries"),
                n(self.session_entries, "session song", "session songs"),
                n(self.feedback, "vote", "votes"),
                n(self.conversations, "follow-up", "follow-ups"),
            )
        )


# The tables whose rows belong to a member, by their name in UserRows.
MEMBER_TABLES: tuple[tuple[str, Any], ...] = (
    ("queries", Query),
    ("session_entries", SessionEntry),
    ("feedback", Feedback),
    ("conversations", ConversationTurn),
)


async def count_user_rows(db: Database, user_id: int) -> UserRows:
    async with db.session() as session:
        return UserRows(
            **{
                name: int(
                    await session.scalar(select(func.count()).where(table.user_id == user_id)) or 0
                )
                for name, table in MEMBER_TABLES
            }
        )


async def forget_user(db: Database, user_id: int) -> UserRows:
    """Delete a member's rows in every server, in one transaction.

    Other members' rows stay but stop naming this member: their votes lose a seed song
    this member asked about or added (and, through ON DELETE SET NULL, the link to this
    member's answer); sessions this member started no longer say who started them.
    """
    async with db.writing() as session:
        await session.execute(
            update(Feedback)
            .where(
                Feedback.query.has(Query.user_id == user_id)
                | Feedback.seed_entry.has(SessionEntry.user_id == user_id)
            )
            .values(seed_track_id=None)
        )
        # A session's name is the starter's words (it may name them): it goes too.
        await session.execute(
            update(ListeningSession)
            .where(ListeningSession.started_by == user_id)
            .values(started_by=0, name=FORGOTTEN_SESSION_NAME)
        )
        removed: dict[str, int] = {}
        for name, table in MEMBER_TABLES:
            result = await session.execute(delete(table).where(table.user_id == user_id))
            removed[name] = result.rowcount  # type: ignore[attr-defined]  # a DELETE's CursorResult counts rows
    return UserRows(**removed)


def forgotten_reply(rows: UserRows) -> Reply:
    total = rows.total
    return Reply(
        title="Done: I forgot you",
        description=(
            f"Deleted {total} {'row' if total == 1 else 'rows'} ({rows.describe()}). "
            "The next model is trained without them."
        ),
    )


@command("forgetme", summary="delete everything I stored about you (asks first)")
async def forgetme(services: Services, ctx: RequestContext, text: str) -> Reply:
    rows = await count_user_rows(services.db, ctx.user_id)
    if rows.total == 0:
        return Reply.info("I have nothing stored about you", "No queries, session songs or votes.")
    if ctx.is_console and text.strip().lower() in CONFIRM_WORDS:
        return forgotten_reply(await forget_user(services.db, ctx.user_id))
    how = (
        f"Type {code(services.settings.command_prefix + 'forgetme confirm')} to go ahead."
        if ctx.is_console
        else "Press **Delete my data** to go ahead; only you can."
    )
    return Reply.info(
        "Delete what I stored about you?",
        f"This deletes your {rows.describe()} in every server, for good. {how}",
        actions=(ConfirmForget(ctx.user_id),),
    )


# -- export ------------------------------------------------------------------------------
def export_csv(model: Recommender, playlists: Sequence[CommunityPlaylist]) -> str:
    """Playlists as CSV text in the dataset's schema; tracks the model lacks are skipped."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for number, playlist in enumerate(playlists, 1):
        known = [t for t in dict.fromkeys(playlist.track_ids) if t in model]
        if not known:
            continue
        table = model.track_table(known)
        for record in table.to_dict("records"):
            record.update(
                playlist_name=playlist.name,
                playlist_id=f"session-{number}",
                playlist_genre="community",
                playlist_subgenre="session",
            )
            writer.writerow([_cell(column, record.get(column, "")) for column in CSV_COLUMNS])
    return out.getvalue()


def _cell(column: str, value: object) -> str:
    if column in INTEGER_COLUMNS and isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@command(
    "export",
    summary="this server's ended sessions as a CSV in the dataset's schema (anonymised)",
    admin_only=True,
)
async def export(services: Services, ctx: RequestContext, text: str) -> Reply:
    model = services.models.current
    async with services.db.session() as session:
        playlists = await community_playlists(
            session, services.settings.session_idle_hours, guild_id=ctx.guild_id
        )
    if not playlists:
        return Reply.info(
            "Nothing to export yet",
            "Ended sessions with 3 or more songs are exported; none here so far.",
        )
    content = (await services.compute(export_csv, model, playlists, heavy=True)).encode("utf-8")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    filename = f"sessions-{stamp}.csv"
    songs = sum(len(p.track_ids) for p in playlists)
    description = (
        f"{len(playlists)} {'session' if len(playlists) == 1 else 'sessions'}, {songs} songs, "
        "in the spotify_songs.csv schema; no member names or ids."
    )
    if ctx.is_console:
        path = services.settings.data_dir / "exports" / filename
        await asyncio.to_thread(_write, path, content)
        description += f"\nSaved to {path}."
    return Reply(
        title="Session playlists export",
        description=description,
        kind=Kind.OK,
        actions=(Attachment(filename, content),),
    )


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
