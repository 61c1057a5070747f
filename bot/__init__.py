"""The Discord front end. `from bot import create_bot` builds the bot without network."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import MusicBot
    from bot.settings import Settings

__all__ = ["create_bot"]


def create_bot(settings: Settings | None = None) -> MusicBot:
    """See `bot.app.create_bot` (imported lazily so `bot.settings` stays light)."""
    from bot.app import create_bot as _create_bot

    return _create_bot(settings)
