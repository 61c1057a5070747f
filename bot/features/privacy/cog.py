"""Discord side of members' data: the !forgetme confirmation buttons (DynamicItems, so
they work after a restart; only the member asked can press them). `!export`'s file goes
out through the send path like any attachment."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

from bot.core.dispatch import BUTTON, apology
from bot.core.replies import Reply
from bot.features.privacy.handlers import ConfirmForget, forget_user, forgotten_reply
from bot.frontends.discord_app import FeatureCog, bot_of, context_from_interaction

if TYPE_CHECKING:
    from bot.frontends.discord_app import MusicBot


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
        await bot_of(interaction).send_reply(
            interaction,
            Reply.error("Not your button", "Only the member who asked can confirm; use !forgetme."),
        )
        return False

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = bot_of(interaction)
        if not self.confirm:
            reply = Reply.info("Kept", "Nothing was deleted.")
        else:
            try:
                reply = forgotten_reply(await forget_user(bot.services.db, self.user_id))
            except Exception as error:
                reply = apology("forgetme", context_from_interaction(interaction, BUTTON), error)
        # Replace the question (and its buttons) with the answer.
        await bot.send_reply(interaction, reply, replace=True)


class PrivacyCog(FeatureCog, name="Privacy"):
    dynamic_items = (ForgetButton,)

    def reply_items(self, reply: Reply) -> list[discord.ui.Item[Any]]:
        """The confirmation under a !forgetme question."""
        confirm = reply.find(ConfirmForget)
        if confirm is None:
            return []
        return [ForgetButton(confirm.user_id, True), ForgetButton(confirm.user_id, False)]


async def setup(bot: MusicBot) -> None:
    await bot.add_cog(PrivacyCog(bot))
