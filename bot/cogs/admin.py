"""The retrain schedule on the bot's event loop (APScheduler), started and stopped with
the bot. `!retrain` and `!status` themselves are handlers (bot/admin_commands.py), so
they also work in `musicbot chat`.

At start-up: runs a dead process left `running` are marked failed, and if a RETRAIN_CRON
slot passed while the bot was down, one catch-up run is scheduled right away (however
many slots were missed).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from discord.ext import commands

from bot.retrain import retrainer_for
from bot.retrain_schedule import RetrainScheduler, parse_cron

if TYPE_CHECKING:
    from bot.app import MusicBot

log = logging.getLogger(__name__)


class AdminCog(commands.Cog, name="Admin"):
    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot
        self.retrainer = retrainer_for(bot.services)
        self.scheduler: RetrainScheduler | None = None

    async def cog_load(self) -> None:
        await self.retrainer.recover()
        trigger = parse_cron(self.bot.settings.retrain_cron)
        catch_up = trigger is not None and await self.retrainer.missed_while_down(trigger)
        self.scheduler = RetrainScheduler(trigger, self.retrainer.fire_scheduled)
        self.retrainer.scheduler = self.scheduler
        self.scheduler.start(catch_up=catch_up)
        if trigger is None:
            log.info("scheduled retraining is off (RETRAIN_CRON=off)")
        else:
            log.info(
                "retrain schedule %r (UTC): next run %s%s",
                self.bot.settings.retrain_cron,
                self.scheduler.next_run_time(),
                "; a run missed while the bot was down starts now" if catch_up else "",
            )

    async def cog_unload(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown()
        self.retrainer.scheduler = None
        await self.retrainer.shutdown()


async def setup(bot: MusicBot) -> None:
    await bot.add_cog(AdminCog(bot))
