"""`/recommend` (slash, with song autocomplete) over the same handler as `!recommend`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.dispatch import SLASH
from bot.features.recommend.handlers import autocomplete_choices
from bot.frontends.discord_app import FeatureCog, context_from_interaction

if TYPE_CHECKING:
    from bot.frontends.discord_app import MusicBot

log = logging.getLogger(__name__)


class RecommendCog(FeatureCog, name="Recommend"):
    def __init__(self, bot: MusicBot) -> None:
        super().__init__(bot)
        self._synced = False

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Publish the slash commands once per process, after every cog has added its own.

        Only a logged-in bot has an application id, so tests (dpytest) never reach Discord.
        A failure is logged and the prefix commands keep working.
        """
        if self._synced or self.bot.application_id is None:
            return
        self._synced = True
        try:
            synced = await self.bot.tree.sync()
            log.info("slash commands published: %s", ", ".join(c.name for c in synced))
        except discord.HTTPException:
            log.exception("could not publish the slash commands; prefix commands still work")

    @app_commands.command(name="recommend", description="Ten songs like the one you name")
    @app_commands.describe(song="A song title, 'title - artist', or a Spotify link")
    async def recommend_slash(self, interaction: discord.Interaction, song: str) -> None:
        ctx = context_from_interaction(interaction, SLASH)
        await self.bot.send_reply(
            interaction, await self.bot.services.handle("recommend", ctx, song)
        )

    @recommend_slash.autocomplete("song")
    async def song_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=name, value=value)
            for name, value in autocomplete_choices(self.bot.services, current)
        ]


async def setup(bot: MusicBot) -> None:
    await bot.add_cog(RecommendCog(bot))
