"""The discord.py bot: `create_bot()` builds it without touching the network; all async
start-up (migrations, model, cogs, prefix commands) happens in `setup_hook`.

Extension points:
- `bot.features.COGS`: extension modules loaded in setup_hook (each has `async def setup(bot)`).
- every command registered in `bot.core.dispatch` gets a prefix command here unless a cog already
  defines one with that name (define one when a command needs Discord-only features).
- `bot.services` is the `Services` the handlers use (settings, models holder, db, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import discord
from discord.ext import commands

from bot.core.dispatch import PREFIX, CommandSpec, RequestContext, Services, apology, usage_reply
from bot.core.replies import Reply
from bot.core.settings import Settings
from bot.features import COGS
from bot.frontends.embed import to_embed

log = logging.getLogger(__name__)

# Sent with every message too, so no code path can forget it.
NO_MENTIONS = discord.AllowedMentions.none()


def is_admin(author: discord.abc.User, settings: Settings) -> bool:
    """Manage Server permission, or one of ADMIN_ROLE_IDS."""
    if not isinstance(author, discord.Member):
        return False
    if author.guild_permissions.manage_guild:
        return True
    wanted = set(settings.admin_role_ids)
    return any(role.id in wanted for role in author.roles)


def context_from_message(
    bot: MusicBot, message: discord.Message, source: str = PREFIX
) -> RequestContext:
    author = message.author
    channel = message.channel

    async def followup(reply: Reply) -> None:
        await channel.send(embed=to_embed(reply), allowed_mentions=NO_MENTIONS)

    return RequestContext(
        guild_id=message.guild.id if message.guild else 0,
        channel_id=channel.id,
        user_id=author.id,
        user_name=author.display_name,
        is_admin=is_admin(author, bot.settings),
        source=source,
        mentions={m.id: m.display_name for m in message.mentions},
        followup=followup,
    )


def context_from_interaction(
    interaction: discord.Interaction, source: str, followup: bool = False
) -> RequestContext:
    """The request behind a slash command or a button; `followup` posts later replies there."""

    async def post_later(reply: Reply) -> None:
        await interaction.followup.send(embed=to_embed(reply), allowed_mentions=NO_MENTIONS)

    settings = getattr(interaction.client, "settings", None)
    return RequestContext(
        guild_id=interaction.guild_id or 0,
        channel_id=interaction.channel_id or 0,
        user_id=interaction.user.id,
        user_name=interaction.user.display_name,
        is_admin=settings is not None and is_admin(interaction.user, settings),
        source=source,
        followup=post_later if followup else None,
    )


def bot_of(interaction: discord.Interaction) -> MusicBot:
    client = interaction.client
    assert isinstance(client, MusicBot)
    return client


async def answer_privately(interaction: discord.Interaction, reply: Reply) -> None:
    """An answer only the member who clicked sees (refusals, vote receipts)."""
    await interaction.response.send_message(
        embed=to_embed(reply), ephemeral=True, allowed_mentions=NO_MENTIONS
    )


class MusicBot(commands.Bot):
    """commands.Bot plus the shared Services; see the module docstring."""

    def __init__(self, settings: Settings, services: Services | None = None) -> None:
        intents = discord.Intents.default()
        intents.members = True  # `!history @member`; dpytest needs it too
        intents.message_content = True  # prefix commands read message text
        super().__init__(
            command_prefix=commands.when_mentioned_or(settings.command_prefix),
            intents=intents,
            help_command=None,  # `help` is a handler like the others
            allowed_mentions=NO_MENTIONS,  # user text never pings anyone
            case_insensitive=True,
        )
        self.settings = settings
        self.services = services or Services(settings)
        # Buttons under answers: cogs add `Reply -> items` factories (issue 7's follow-ups).
        self.reply_buttons: list[Callable[[Reply], list[discord.ui.Item[Any]]]] = []

    async def setup_hook(self) -> None:
        await self.services.start()
        for extension in COGS:
            if extension not in self.extensions:
                await self.load_extension(extension)
        self.install_prefix_commands()
        # Slash commands are synced by `musicbot run` (on_ready), never here: no network.

    def install_prefix_commands(self) -> None:
        """A generic prefix command for every registered handler a cog does not define."""
        for spec in self.services.registry.specs():
            if self.get_command(spec.name) is None:
                self.add_command(_prefix_command(spec))

    def reply_view(self, reply: Reply) -> discord.ui.View | None:
        """One View with every button the cogs want under this Reply, or None."""
        items = [item for factory in self.reply_buttons for item in factory(reply)]
        if not items:
            return None
        view = discord.ui.View(timeout=None)
        for item in items[:25]:
            view.add_item(item)
        return view

    async def respond(self, ctx: commands.Context[Any], name: str, text: str = "") -> Reply:
        """Run handler `name` for a prefix command and send its Reply as an embed.

        Listeners of the `reply_sent` event (reply, message) learn the message's id, e.g.
        to let replies and buttons steer that answer.
        """
        reply = await self.services.handle(name, context_from_message(self, ctx.message), text)
        view = self.reply_view(reply)
        extra: dict[str, Any] = {"view": view} if view is not None else {}
        message = await ctx.send(embed=to_embed(reply), allowed_mentions=NO_MENTIONS, **extra)
        self.dispatch("reply_sent", reply, message)
        return reply

    async def on_command_error(  # type: ignore[override]
        self, ctx: commands.Context[Any], error: commands.CommandError
    ) -> None:
        """Short, friendly answers; tracebacks go to the log, never to the chat."""
        if isinstance(error, commands.CommandNotFound):
            return  # another bot's prefix, or a typo: stay quiet
        prefix = self.settings.command_prefix
        if isinstance(error, commands.CommandOnCooldown):
            reply = Reply.info(
                "Slow down a little",
                f"You're asking faster than I can keep up. Try again in {error.retry_after:.0f}s.",
            )
        elif isinstance(error, commands.MemberNotFound):
            reply = Reply.error("Who's that?", "I can't find that member in this server.")
        elif isinstance(error, commands.UserInputError) and ctx.command is not None:
            spec = self.services.registry.get(ctx.command.name)
            reply = (
                usage_reply(spec, prefix)
                if spec
                else Reply.error("That didn't work", f"See `{prefix}help {ctx.command.name}`.")
            )
        elif isinstance(error, commands.CheckFailure):
            reply = Reply.error("Not allowed", "You can't use that command here.")
        else:
            original = getattr(error, "original", error)
            name = ctx.command.name if ctx.command else "?"
            reply = apology(name, context_from_message(self, ctx.message), original)
        try:
            await ctx.send(embed=to_embed(reply), allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.exception("could not send the error reply in channel %s", ctx.channel.id)

    async def on_ready(self) -> None:
        log.info("connected as %s to %d server(s)", self.user, len(self.guilds))

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            await self.services.close()


def _prefix_command(spec: CommandSpec) -> commands.Command[Any, Any, Any]:
    async def run(ctx: commands.Context[Any], *, text: str = "") -> None:
        bot = ctx.bot
        assert isinstance(bot, MusicBot)
        await bot.respond(ctx, spec.name, text)

    return commands.Command(
        run,
        name=spec.name,
        aliases=list(spec.aliases),
        help=spec.summary,
        usage=spec.usage,
    )


def create_bot(settings: Settings | None = None) -> MusicBot:
    """Build the bot from settings (env/.env by default). No network, no I/O."""
    return MusicBot(settings or Settings())
