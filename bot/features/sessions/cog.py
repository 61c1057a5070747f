"""Discord side of group sessions: the sweep that ends idle sessions and posts their
summary in the channel they ran in."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import tasks

from bot.core.db_outage import StorageUnavailable
from bot.features.sessions.handlers import summary_reply
from bot.features.sessions.queries import end_idle_sessions, session_entries
from bot.frontends.discord_app import FeatureCog

if TYPE_CHECKING:
    from bot.frontends.discord_app import MusicBot

log = logging.getLogger(__name__)

SWEEP_MINUTES = 10


class SessionsCog(FeatureCog, name="Sessions"):
    async def cog_load(self) -> None:
        await super().cog_load()
        self.sweep.start()

    async def cog_unload(self) -> None:
        self.sweep.cancel()
        await super().cog_unload()

    @tasks.loop(minutes=SWEEP_MINUTES)
    async def sweep(self) -> None:
        """End idle sessions everywhere and post their summary where they ran."""
        await self.end_idle()

    async def end_idle(self) -> int:
        services = self.bot.services
        try:
            ended = await end_idle_sessions(services.db, services.settings.session_idle_hours)
        except StorageUnavailable:  # the next sweep tries again; the outage is logged
            return 0
        for session in ended:
            try:
                if not services.models.ready:
                    continue
                entries = await session_entries(services.db, session.id)
                reply = summary_reply(
                    services.models.current, session, entries, services.settings.session_idle_hours
                )
                channel = self.bot.get_channel(session.channel_id)
                if isinstance(channel, discord.abc.Messageable):
                    await self.bot.send_reply(channel, reply)
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
