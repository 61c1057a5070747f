"""The recommend feature's context menus: "Songs like this" on a message and, with
LISTENING=on, "Recommend from their listening" on a member. Registered in
`bot.features.MENUS`; `frontends/slash.py` puts them in the command tree."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.replies import Reply
from bot.features.recommend.presence import seed_from_presence
from recommender.search import track_link_in


def song_in_message(message: discord.Message) -> str:
    """What a message names: a Spotify track link (in its text or an embed), else its text."""
    texts = [message.content or ""]
    for embed in message.embeds:
        texts += [embed.url or "", embed.title or "", embed.description or ""]
    for text in texts:
        if link := track_link_in(text):
            return link
    words = " ".join((message.content or "").split())
    if not words and message.embeds:  # a link preview alone: its title names the song
        words = " ".join((message.embeds[0].title or "").split())
    return words


def context_menus(bot: commands.Bot) -> list[app_commands.ContextMenu]:
    menus = [app_commands.ContextMenu(name="Songs like this", callback=_songs_like_this)]
    if bot.settings.listening:  # type: ignore[attr-defined]  # the MusicBot's own (features cannot import discord_app: a cycle)
        menus.append(
            app_commands.ContextMenu(
                name="Recommend from their listening", callback=_from_their_listening
            )
        )
    return menus


async def _songs_like_this(interaction: discord.Interaction, message: discord.Message) -> None:
    """The message's Spotify link or song name, as `/recommend` would take it."""
    bot: Any = interaction.client
    text = song_in_message(message)
    if not text:
        reply = Reply.error(
            "No song there", "Use it on a message with a Spotify track link or a song name."
        )
        await bot.send_reply(interaction, reply)
        return
    await bot.answer_interaction(interaction, "recommend", text[: bot.settings.max_query_chars])


async def _from_their_listening(interaction: discord.Interaction, member: discord.Member) -> None:
    bot: Any = interaction.client
    seed = seed_from_presence(bot, member, own=member.id == interaction.user.id)
    if isinstance(seed, Reply):
        await bot.send_reply(interaction, seed)
        return
    await bot.answer_interaction(interaction, "recommend", seed)
