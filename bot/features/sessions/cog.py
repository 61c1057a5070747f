"""Discord side of group sessions: the sweep that ends idle sessions and posts their
summary in the channel they ran in."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands, tasks

from bot.features.sessions.handlers import end_idle_sessions, session_entries, summary_reply
from bot.frontends.embed import to_embed

if TYPE_CHECKING:
    from bot.frontends.discord_app import MusicBot

log = logging.getLogger(__name__)

SWEEP_MINUTES = 10


class SessionsCog(commands.Cog, name="Sessions"):
    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.sweep.start()

    async def cog_unload(self) -> None:
        self.sweep.cancel()

    @tasks.loop(minutes=SWEEP_MINUTES)
    async def sweep(self) -> None:
        """End idle sessions everywhere and post their summary where they ran."""
        await self.end_idle()

    async def end_idle(self) -> int:
        services = self.bot.services
        ended = await end_idle_sessions(services.db, services.settings.session_idle_hours)
        for session in ended:
            try:
                if not services.models.ready:
                    continue
                entries = await session_entries(services.db, session.id)
                reply = summary_reply(services.models.current, session, entries)
                hours = f"{services.settings.session_idle_hours:g}"
                reply.description = f"Nobody added anything for {hours} h. " + reply.description
                channel = self.bot.get_channel(session.channel_id)
                if isinstance(channel, discord.abc.Messageable):
                    await channel.send(embed=to_embed(reply))
            except Exception:
                log.exception("could not announce the end of idle session %s", session.id)
        return len(ended)

    @sweep.before_loop
    async def _connected(self) -> None:
        # Announcing needs the channel cache, which fills once the gateway is ready.
        await self.bot.wait_until_ready()

    @sweep.error
    async def _sweep_failed(self, error: BaseException) -> None:
        log.error("idle-session sweep failed", exc_info=error)


async def setup(bot: MusicBot) -> None:
    await bot.add_cog(SessionsCog(bot))
