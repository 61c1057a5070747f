"""The retrain schedule on the bot's event loop (APScheduler), started and stopped with
the bot; scheduled runs post their outcome in RETRAIN_CHANNEL_ID. `!retrain`, `!rollback`
and `!status` themselves are handlers (handlers.py), so they also work in `musicbot chat`.

At start-up: runs a dead process left `running` or `publishing` are settled against the
model pointer, and if a RETRAIN_CRON slot passed while the bot was down, one catch-up run
is scheduled right away (however many slots were missed). While the bot runs, a task
follows MODEL_DIR's pointer, so a model another process published serves here too.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.core.serving import PointerWatcher
from bot.features.retrain.handlers import outcome_reply
from bot.features.retrain.retrainer import retrainer_for
from bot.features.retrain.schedule import RetrainScheduler, parse_cron
from bot.features.retrain.tables import TrainingRun

if TYPE_CHECKING:
    from bot.frontends.discord_app import MusicBot

log = logging.getLogger(__name__)


class AdminCog(commands.Cog, name="Admin"):
    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot
        self.retrainer = retrainer_for(bot.services)
        self.scheduler: RetrainScheduler | None = None
        self.watcher = PointerWatcher(
            bot.services.models, self.retrainer.store, bot.settings.model_poll_seconds
        )

    async def cog_load(self) -> None:
        await self.retrainer.recover()
        self.watcher.start()
        trigger = parse_cron(self.bot.settings.retrain_cron)
        catch_up = trigger is not None and await self.retrainer.missed_while_down(trigger)
        self.scheduler = RetrainScheduler(trigger, self.retrainer.fire_scheduled)
        self.retrainer.scheduler = self.scheduler
        self.retrainer.scheduled_notify = self.post_scheduled_outcome
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

    async def post_scheduled_outcome(self, run: TrainingRun) -> None:
        """Scheduled runs have no asker: post their outcome in RETRAIN_CHANNEL_ID, if set."""
        channel_id = self.bot.settings.retrain_channel_id
        if not channel_id:
            return
        channel = self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            log.warning("RETRAIN_CHANNEL_ID %s is not a text channel", channel_id)
            return
        models = self.bot.services.models
        serving = models.current.version if models.ready else "none"
        reply = outcome_reply(run, serving, self.bot.settings.command_prefix)
        await self.bot.send_reply(channel, reply, private=False)

    async def cog_unload(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown()
        await self.watcher.stop()
        self.retrainer.scheduler = None
        self.retrainer.scheduled_notify = None
        await self.retrainer.shutdown()


async def setup(bot: MusicBot) -> None:
    await bot.add_cog(AdminCog(bot))
