"""What a member is playing on Spotify, read from Discord's presence (LISTENING=on): the
Discord side of `listening.py`, for `/recommend` without a song and the "Recommend from
their listening" menu."""

from __future__ import annotations

from typing import Any

import discord

from bot.core.replies import Reply
from bot.features.catalog.handlers import lookup_for
from bot.features.recommend.listening import NowPlaying, not_listening_reply, seed_text


def _member(bot: Any, user: discord.abc.User) -> discord.abc.User:
    """The cached member (presences live there), else the user as given."""
    guild = getattr(user, "guild", None)
    cached = guild.get_member(user.id) if guild is not None else None
    return cached or user


def now_playing(user: discord.abc.User) -> NowPlaying | None:
    """The track of the member's Spotify activity, or None."""
    for activity in getattr(user, "activities", ()):
        if isinstance(activity, discord.Spotify):
            return NowPlaying(
                activity.track_id, activity.title, list(activity.artists), activity.album
            )
    return None


def seed_from_presence(bot: Any, user: discord.abc.User, *, own: bool) -> str | Reply:
    """The song text `recommend` takes for what `user` plays now on Spotify (from the
    cached member, where Discord's presences land), or the Reply saying why there is none."""
    playing = now_playing(_member(bot, user))
    if playing is None:
        return not_listening_reply(own, user.display_name)
    lookup = lookup_for(bot.services)
    return seed_text(
        bot.services.models.current, playing, lookup.remember if lookup.enabled else None
    )
