"""The Discord front end. `from bot import create_bot` builds the bot without network."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core.settings import Settings
    from bot.frontends.discord_app import MusicBot

__all__ = ["create_bot"]


def create_bot(settings: Settings | None = None) -> MusicBot:
    """See `bot.frontends.discord_app.create_bot` (imported lazily so `bot.core.settings` stays light)."""
    from bot.frontends.discord_app import create_bot as _create_bot

    return _create_bot(settings)
