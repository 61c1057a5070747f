"""Discord glue for follow-ups (issue 7): the More / Calmer / More upbeat / Other artists
buttons, replies to the bot's answers, and prefix commands that know which answer they
reply to. Everything runs the handlers in bot/conversation.py through `Services.handle`,
like every other front end; this file only finds the answer being steered and sends.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.core.dispatch import RequestContext
from bot.core.replies import Kind, Reply
from bot.features.followups.handlers import (
    attach_message,
    find_turn,
    purge_expired,
    replying_to,
    route_reply_text,
    warm_up,
)
from bot.frontends.discord_app import context_from_interaction
from bot.frontends.embed import to_embed

if TYPE_CHECKING:
    from bot.frontends.discord_app import MusicBot

log = logging.getLogger(__name__)

BUTTON_SOURCE = "button"
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
        cog = interaction.client.get_cog(ConversationCog.__cog_name__)  # type: ignore[attr-defined]
        if isinstance(cog, ConversationCog):
            await cog.on_button(interaction, self.command, self.text)


def follow_up_buttons(reply: Reply) -> list[discord.ui.Item[Any]]:
    """Buttons for answers that can be followed up (they carry a conversation id)."""
    if reply.kind is not Kind.OK or "conversation_id" not in reply.data:
        return []
    return [FollowUpButton(*button) for button in BUTTONS]


class FollowUpView(discord.ui.View):
    """All four buttons, registered once so clicks on old messages reach the handlers."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        for button in BUTTONS:
            self.add_item(FollowUpButton(*button))


class ConversationCog(commands.Cog, name="Conversation"):
    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot
        self._warm_up: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        self.bot.add_view(FollowUpView())  # persistent: buttons keep working after a restart
        if follow_up_buttons not in self.bot.reply_buttons:
            self.bot.reply_buttons.append(follow_up_buttons)
        await purge_expired(self.bot.services.db)  # state left from before a long stop
        if self.bot.services.models.ready:  # the first follow-up need not build lookups
            model = self.bot.services.models.current
            self._warm_up = asyncio.create_task(asyncio.to_thread(warm_up, model))

    async def cog_unload(self) -> None:
        if follow_up_buttons in self.bot.reply_buttons:
            self.bot.reply_buttons.remove(follow_up_buttons)

    # -- running a follow-up ---------------------------------------------------------------
    async def run(self, ctx: RequestContext, name: str, text: str, message_id: int | None) -> Reply:
        """The handler `name` as a follow-up to bot message `message_id` (None: latest)."""
        with replying_to(message_id):
            return await self.bot.services.handle(name, ctx, text)

    async def send(
        self, target: discord.abc.Messageable | discord.Message, reply: Reply
    ) -> discord.Message:
        """Send a Reply with its buttons and remember which message shows the answer."""
        from bot.frontends.discord_app import NO_MENTIONS

        options: dict[str, Any] = {"embed": to_embed(reply), "allowed_mentions": NO_MENTIONS}
        view = self.bot.reply_view(reply)
        if view is not None:
            options["view"] = view
        if isinstance(target, discord.Message):
            message = await target.reply(mention_author=False, **options)
        else:
            message = await target.send(**options)
        await self.remember(reply, message)
        return message

    async def remember(self, reply: Reply, message: discord.Message) -> None:
        await self.remember_id(reply, message.id)

    async def remember_id(self, reply: Reply, message_id: int) -> None:
        turn_id = reply.data.get("conversation_id")
        if turn_id is not None:
            await attach_message(self.bot.services.db, int(turn_id), message_id)

    @commands.Cog.listener()
    async def on_reply_sent(self, reply: Reply, message: discord.Message) -> None:
        """A `!recommend` answer (sent by MusicBot.respond) becomes steerable by replies."""
        await self.remember(reply, message)

    # -- prefix commands: the same handlers, plus "which answer does this reply to" ------------
    async def _prefix(self, ctx: commands.Context[Any], name: str, text: str) -> None:
        from bot.frontends.discord_app import context_from_message

        reference = ctx.message.reference
        message_id = reference.message_id if reference is not None else None
        reply = await self.run(context_from_message(self.bot, ctx.message), name, text, message_id)
        await self.send(ctx, reply)

    @commands.command(name="more")
    async def more_command(self, ctx: commands.Context[Any], *, text: str = "") -> None:
        await self._prefix(ctx, "more", text)

    @commands.command(name="like")
    async def like_command(self, ctx: commands.Context[Any], *, text: str = "") -> None:
        await self._prefix(ctx, "like", text)

    @commands.command(name="refine", aliases=["r"])
    async def refine_command(self, ctx: commands.Context[Any], *, text: str = "") -> None:
        await self._prefix(ctx, "refine", text)

    @commands.command(name="why")
    async def why_command(self, ctx: commands.Context[Any], *, text: str = "") -> None:
        await self._prefix(ctx, "why", text)

    # -- plain words in a reply to one of the bot's answers ------------------------------
    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        reference = message.reference
        if message.author.bot or reference is None or reference.message_id is None:
            return
        content = message.content.strip()
        if not content or content.startswith(self.bot.settings.command_prefix):
            return  # a command: it handles the reference itself
        if _LEADING_MENTION.match(content):
            return
        from bot.frontends.discord_app import context_from_message

        ctx = context_from_message(self.bot, message)
        resolved = reference.resolved
        me = self.bot.user
        if isinstance(resolved, discord.Message):
            if me is None or resolved.author.id != me.id:
                return  # a reply to a person, not to the bot
        elif await find_turn(self.bot.services.db, ctx, reference.message_id) is None:
            return  # not one of our answers (or long expired): stay quiet
        name, text = route_reply_text(content)
        reply = await self.run(ctx, name, text, reference.message_id)
        await self.send(message, reply)

    # -- buttons -------------------------------------------------------------------------
    async def press(
        self, ctx: RequestContext, command: str, text: str, message_id: int | None
    ) -> Reply:
        """What a button does: the typed follow-up, steering the answer it sits under."""
        return await self.run(ctx, command, text, message_id)

    async def on_button(self, interaction: discord.Interaction, command: str, text: str) -> None:
        from bot.frontends.discord_app import NO_MENTIONS

        message_id = interaction.message.id if interaction.message is not None else None
        ctx = context_from_interaction(interaction, BUTTON_SOURCE)
        reply = await self.press(ctx, command, text, message_id)
        options: dict[str, Any] = {"embed": to_embed(reply), "allowed_mentions": NO_MENTIONS}
        view = self.bot.reply_view(reply)
        if view is not None:
            options["view"] = view
        # Refusals ("slow down", "ended") are only for the presser; answers are for all.
        callback = await interaction.response.send_message(
            ephemeral=reply.kind is not Kind.OK, **options
        )
        # Discord says which message the answer became; replies and buttons need its id.
        message_id = getattr(callback, "message_id", None)
        if reply.kind is Kind.OK and message_id is not None:
            await self.remember_id(reply, message_id)


async def setup(bot: MusicBot) -> None:
    await bot.add_cog(ConversationCog(bot))
