"""👍/👎 buttons under answers: `discord.ui.DynamicItem`s whose custom_id carries what
the vote is about (query or session, track, seed), registered at start-up, so a button on
a message sent before a restart still works.

Layout: rows 0–2 are left to other features (follow-up buttons); 👍 for the top five
picks go in row 3 and 👎 in row 4, numbered like the list.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

from bot.core.dispatch import BUTTON, apology
from bot.core.replies import Kind, Reply
from bot.features.feedback.tables import DISLIKE, LIKE
from bot.features.feedback.targets import CUSTOM_ID, Votes, VoteTarget
from bot.features.feedback.votes import record_vote
from bot.frontends.discord_app import FeatureCog, bot_of, context_from_interaction

if TYPE_CHECKING:
    from bot.frontends.discord_app import MusicBot

FEEDBACK_PICKS = 5  # 👍/👎 for the top five picks: two rows of five buttons
LIKE_ROW, DISLIKE_ROW = 3, 4


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
        bot = bot_of(interaction)
        try:
            reply = await self._vote(bot, interaction)
        except Exception as error:
            reply = apology("feedback", context_from_interaction(interaction, BUTTON), error)
        await bot.send_reply(interaction, reply, private=True)  # a receipt for the voter

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
        return Reply(title="Vote saved", description=text)


class FeedbackCog(FeatureCog, name="Feedback"):
    dynamic_items = (FeedbackButton,)

    def reply_items(self, reply: Reply) -> list[discord.ui.Item[Any]]:
        """👍/👎 for the top picks of an answer that has them."""
        votes = reply.find(Votes)
        if reply.kind is not Kind.OK or votes is None:
            return []
        picks = [
            (number, target)
            for number, target in enumerate(votes.targets[:FEEDBACK_PICKS], 1)
            if target.custom_id(LIKE) is not None
        ]
        buttons: list[discord.ui.Item[Any]] = [FeedbackButton(t, LIKE, n) for n, t in picks]
        return buttons + [FeedbackButton(t, DISLIKE, n) for n, t in picks]


async def setup(bot: MusicBot) -> None:
    await bot.add_cog(FeedbackCog(bot))
