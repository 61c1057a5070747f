"""Discord side of members' data: the !forgetme confirmation buttons (DynamicItems, so
they work after a restart; only the member asked can press them) and !export's file."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.core.dispatch import SLASH, apology
from bot.core.replies import Kind, Reply
from bot.features.privacy.handlers import forget_user, forgotten_reply
from bot.frontends.discord_app import answer_privately, bot_of, context_from_interaction
from bot.frontends.embed import to_embed

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
        await answer_privately(
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
                reply = apology("forgetme", context_from_interaction(interaction, SLASH), error)
        # Replace the question (and its buttons) with the answer.
        await interaction.response.edit_message(embed=to_embed(reply), view=None)


def forget_buttons(reply: Reply) -> list[discord.ui.Item[Any]]:
    """The confirmation under a !forgetme question."""
    user_id = reply.data.get("forget_user_id")
    if isinstance(user_id, int):
        return [ForgetButton(user_id, True), ForgetButton(user_id, False)]
    return []


class PrivacyCog(commands.Cog, name="Privacy"):
    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ForgetButton)
        self.bot.reply_buttons.append(forget_buttons)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ForgetButton)
        if forget_buttons in self.bot.reply_buttons:
            self.bot.reply_buttons.remove(forget_buttons)

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
    await bot.add_cog(PrivacyCog(bot))
