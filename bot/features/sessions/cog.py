"""Discord side of issue 6: 👍/👎 buttons, the !forgetme confirmation, !export's file, and
the sweep that ends idle sessions.

Buttons are `discord.ui.DynamicItem`s: the custom_id carries what the button is about
(query or session, track, seed; or whose data to delete), and the item classes are
registered at start-up, so a button on a message sent before a restart still works.
Layout: rows 0–2 are left to other features (follow-up buttons); 👍 for the top five
picks go in row 3 and 👎 in row 4, numbered like the list.
"""

from __future__ import annotations

import io
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands, tasks

from bot.frontends.discord_app import context_from_interaction
from bot.core.dispatch import SLASH, apology
from bot.features.feedback.votes import CUSTOM_ID, VoteTarget, record_vote, vote_targets
from bot.features.privacy.handlers import forget_user, forgotten_reply
from bot.frontends.embed import to_embed
from bot.core.replies import Kind, Reply
from bot.features.sessions.tables import DISLIKE, LIKE
from bot.features.sessions.handlers import end_idle_sessions, session_entries, summary_reply

if TYPE_CHECKING:
    from bot.frontends.discord_app import MusicBot

log = logging.getLogger(__name__)

FEEDBACK_PICKS = 5  # 👍/👎 for the top five picks: two rows of five buttons
LIKE_ROW, DISLIKE_ROW = 3, 4
SWEEP_MINUTES = 10


def _bot(interaction: discord.Interaction) -> MusicBot:
    from bot.frontends.discord_app import MusicBot

    client = interaction.client
    assert isinstance(client, MusicBot)
    return client


async def _answer_privately(interaction: discord.Interaction, reply: Reply) -> None:
    await interaction.response.send_message(
        embed=to_embed(reply), ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
    )


class FeedbackButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CUSTOM_ID):
    """👍 or 👎 on one pick; every click is stored, a second click changes the vote."""

    def __init__(self, target: VoteTarget, value: int, number: int) -> None:
        custom_id = target.custom_id(value)
        if custom_id is None:
            raise ValueError("ids too long for a custom_id")
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                label=str(number),
                emoji="👍" if value == LIKE else "👎",
                custom_id=custom_id,
            ),
            row=LIKE_ROW if value == LIKE else DISLIKE_ROW,
        )
        self.target = target
        self.value = value

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> FeedbackButton:
        target, value = VoteTarget.from_match(match)
        label = getattr(item, "label", None) or "1"
        return cls(target, value, int(label) if label.isdecimal() else 1)

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = _bot(interaction)
        try:
            reply = await self._vote(bot, interaction)
        except Exception as error:
            reply = apology("feedback", context_from_interaction(interaction, SLASH), error)
        await _answer_privately(interaction, reply)

    async def _vote(self, bot: MusicBot, interaction: discord.Interaction) -> Reply:
        message_id = interaction.message.id if interaction.message else 0
        outcome = await record_vote(
            bot.services.db,
            target=self.target,
            value=self.value,
            guild_id=interaction.guild_id or 0,
            channel_id=interaction.channel_id or 0,
            message_id=message_id,
            user_id=interaction.user.id,
        )
        if not outcome.ok:
            return Reply.error("I can't take that vote", outcome.reason)
        models = bot.services.models
        track_id = self.target.track_id
        name = (
            models.current.track(track_id).label
            if models.ready and track_id in models.current
            else "that song"
        )
        thumb = "👍" if self.value == LIKE else "👎"
        if outcome.previous == self.value:
            text = f"You already gave {name} a {thumb}."
        elif outcome.previous is not None:
            text = f"Changed your vote on {name} to {thumb}."
        else:
            text = f"{thumb} for {name}, thanks! Press the other button to change it."
        return Reply(title="Vote saved", description=text, data={"value": self.value})


FORGET_ID = re.compile(r"forgetme:(?P<user>\d{1,20}):(?P<action>yes|no)")


class ForgetButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=FORGET_ID):
    """The !forgetme confirmation; only the member it is for can press it."""

    def __init__(self, user_id: int, confirm: bool) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.danger if confirm else discord.ButtonStyle.secondary,
                label="Delete my data" if confirm else "Keep it",
                custom_id=f"forgetme:{user_id}:{'yes' if confirm else 'no'}",
            ),
            row=0,
        )
        self.user_id = user_id
        self.confirm = confirm

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ForgetButton:
        return cls(int(match["user"]), match["action"] == "yes")

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.user_id:
            return True
        await _answer_privately(
            interaction,
            Reply.error("Not your button", "Only the member who asked can confirm; use !forgetme."),
        )
        return False

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = _bot(interaction)
        if not self.confirm:
            reply = Reply.info("Kept", "Nothing was deleted.")
        else:
            try:
                reply = forgotten_reply(await forget_user(bot.services.db, self.user_id))
            except Exception as error:
                reply = apology("forgetme", context_from_interaction(interaction, SLASH), error)
        # Replace the question (and its buttons) with the answer.
        await interaction.response.edit_message(embed=to_embed(reply), view=None)


def reply_items(reply: Reply) -> list[discord.ui.Item[Any]]:
    """The buttons issue 6 puts under a reply: 👍/👎 on picks, or the forget confirmation."""
    if reply.kind is not Kind.OK and "forget_user_id" not in reply.data:
        return []
    user_id = reply.data.get("forget_user_id")
    if isinstance(user_id, int):
        return [ForgetButton(user_id, True), ForgetButton(user_id, False)]
    picks = [
        (number, target)
        for number, target in enumerate(vote_targets(reply.data)[:FEEDBACK_PICKS], 1)
        if target.custom_id(LIKE) is not None
    ]
    return [FeedbackButton(t, LIKE, n) for n, t in picks] + [
        FeedbackButton(t, DISLIKE, n) for n, t in picks
    ]


class SessionsCog(commands.Cog, name="Sessions"):
    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(FeedbackButton, ForgetButton)
        self.bot.reply_buttons.append(reply_items)
        self.sweep.start()

    async def cog_unload(self) -> None:
        self.sweep.cancel()
        self.bot.remove_dynamic_items(FeedbackButton, ForgetButton)
        if reply_items in self.bot.reply_buttons:
            self.bot.reply_buttons.remove(reply_items)

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

    @commands.command(name="export", help="this server's sessions as a CSV (admins)")
    async def export(self, ctx: commands.Context[Any]) -> None:
        from bot.frontends.discord_app import NO_MENTIONS, context_from_message

        reply = await self.bot.services.handle(
            "export", context_from_message(self.bot, ctx.message)
        )
        attachment = reply.data.get("attachment")
        file = None
        if reply.kind is Kind.OK and isinstance(attachment, dict):
            file = discord.File(io.BytesIO(attachment["content"]), filename=attachment["filename"])
        await ctx.send(embed=to_embed(reply), file=file, allowed_mentions=NO_MENTIONS)  # type: ignore[arg-type]


async def setup(bot: MusicBot) -> None:
    await bot.add_cog(SessionsCog(bot))
