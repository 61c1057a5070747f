"""Discord side of follow-ups: the More / Calmer / More upbeat / Other artists buttons
under answers that can be followed up, plain words typed as a reply to one of the bot's
answers, and noting which message shows which answer. Everything runs the handlers
through `Services.handle` and answers through `MusicBot.send_reply`; which answer a
follow-up steers travels as `RequestContext.replying_to`.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.core.db_outage import StorageUnavailable
from bot.core.dispatch import BUTTON
from bot.core.replies import Kind, Reply
from bot.features.followups.handlers import route_reply_text, warm_up
from bot.features.followups.queries import attach_message, find_turn, purge_expired
from bot.features.followups.replies import FollowUp
from bot.frontends.discord_app import (
    FeatureCog,
    bot_of,
    context_from_message,
)

if TYPE_CHECKING:
    from bot.frontends.discord_app import MusicBot

# (custom_id suffix, label, command, text): the same handlers as the typed follow-ups.
BUTTONS: tuple[tuple[str, str, str, str], ...] = (
    ("more", "More", "more", ""),
    ("calmer", "Calmer", "refine", "calmer"),
    ("upbeat", "More upbeat", "refine", "more upbeat"),
    ("other", "Other artists", "refine", "other artists"),
)
CUSTOM_ID = "conversation:{}"
_LEADING_MENTION = re.compile(r"^<@!?\d+>")


class FollowUpButton(discord.ui.Button[Any]):
    """One follow-up under an answer; the custom_id is fixed so it survives restarts."""

    def __init__(self, key: str, label: str, command: str, text: str) -> None:
        super().__init__(
            label=label, style=discord.ButtonStyle.secondary, custom_id=CUSTOM_ID.format(key)
        )
        self.command = command
        self.text = text

    async def callback(self, interaction: discord.Interaction) -> None:
        """The typed follow-up, steering the answer this button sits under."""
        # Through answer_interaction, so on a busy machine "thinking…" comes before
        # Discord's 3 s are up, as for a slash command, and the click is not lost.
        await bot_of(interaction).answer_interaction(
            interaction, self.command, self.text, source=BUTTON
        )


class FollowUpView(discord.ui.View):
    """All four buttons, registered once so clicks on old messages reach the handlers."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        for button in BUTTONS:
            self.add_item(FollowUpButton(*button))


class ConversationCog(FeatureCog, name="Conversation"):
    def __init__(self, bot: MusicBot) -> None:
        super().__init__(bot)
        self._warm_up: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        await super().cog_load()
        self.bot.add_view(FollowUpView())  # persistent: buttons keep working after a restart
        await purge_expired(self.bot.services.db)  # state left from before a long stop
        if self.bot.services.models.ready:  # the first follow-up need not build lookups
            model = self.bot.services.models.current
            self._warm_up = asyncio.create_task(asyncio.to_thread(warm_up, model))

    def reply_items(self, reply: Reply) -> list[discord.ui.Item[Any]]:
        """The buttons under answers that can be followed up."""
        if reply.kind is not Kind.OK or reply.find(FollowUp) is None:
            return []
        return [FollowUpButton(*button) for button in BUTTONS]

    async def reply_sent(self, reply: Reply, message_id: int) -> None:
        """Replies to that message and buttons under it steer this answer."""
        follow_up = reply.find(FollowUp)
        if follow_up is not None:
            await attach_message(self.bot.services.db, follow_up.turn_id, message_id)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Plain words in a reply to one of the bot's answers ("calmer", "like 3")."""
        reference = message.reference
        if message.author.bot or reference is None or reference.message_id is None:
            return
        content = message.content.strip()
        if not content or content.startswith(self.bot.settings.command_prefix):
            return  # a command: it handles the reference itself
        if _LEADING_MENTION.match(content):
            return
        ctx = context_from_message(self.bot, message)
        resolved = reference.resolved
        me = self.bot.user
        if isinstance(resolved, discord.Message):
            if me is None or resolved.author.id != me.id:
                return  # a reply to a person, not to the bot
        else:
            try:
                turn = await find_turn(self.bot.services.db, ctx, reference.message_id)
            except StorageUnavailable:
                return  # whether it answers us can't be told now: quiet, as for a stranger
            if turn is None:
                return  # not one of our answers (or long expired): stay quiet
        name, text = route_reply_text(content)
        reply = await self.bot.services.handle(name, ctx, text)
        await self.bot.send_reply(message, reply)


async def setup(bot: MusicBot) -> None:
    await bot.add_cog(ConversationCog(bot))
