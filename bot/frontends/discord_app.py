"""The discord.py bot: `create_bot()` builds it without touching the network; all async
start-up (migrations, model, cogs, prefix commands) happens in `setup_hook`.

Extension points:
- `bot.features.COGS`: extension modules loaded in setup_hook (each has `async def setup(bot)`).
- every command registered in `bot.core.dispatch` gets a prefix command here unless a cog
  already defines one with that name, and a slash command (`frontends/slash.py`) that
  answers through `answer_interaction`; the intents follow PREFIX_COMMANDS and LISTENING.
- `MusicBot.send_reply` is the one way a Reply reaches Discord: the embed, the buttons of
  every `FeatureCog`, files, ephemeral refusals, and `FeatureCog.reply_sent` with the id of
  the message an answer became.
- `bot.services` is the `Services` the handlers use (settings, models holder, db, ...).
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import discord
from discord.ext import commands

from bot.core.dispatch import (
    PREFIX,
    SLASH,
    CommandSpec,
    RequestContext,
    Services,
    apology,
    usage_reply,
)
from bot.core.replies import Attachment, Quiet, Reply, slow_down_reply
from bot.core.settings import Settings
from bot.features import COGS
from bot.frontends.embed import to_embed
from bot.frontends.intents import intents_for
from bot.frontends.slash import install_app_commands, publish_if_changed

log = logging.getLogger(__name__)

# The bot plays no audio: discord.py's "PyNaCl is not installed, voice will NOT be
# supported" would greet every start with a warning about nothing.
discord.VoiceClient.warn_nacl = False

# Discord waits 3 s for an interaction's first answer; a handler slower than this gets
# "thinking…" first.
DEFER_AFTER_SECONDS = 2.0

# Sent with every message too, so no code path can forget it.
NO_MENTIONS = discord.AllowedMentions.none()

# Where send_reply can answer: a prefix (or hybrid) command's context, the message being
# replied to, a channel, or an interaction (a slash command or a button press).
Destination = (
    commands.Context[Any] | discord.Message | discord.abc.Messageable | discord.Interaction
)


def manages_server(author: discord.abc.User, settings: Settings) -> bool:
    """An admin of the server the member writes in: Manage Server, or one of ADMIN_ROLE_IDS.

    A member who sent an interaction carries the permissions Discord resolved for them
    (roles, overwrites, server owner); those count as well as the cached roles'."""
    if not isinstance(author, discord.Member):
        return False
    if author.guild_permissions.manage_guild:
        return True
    resolved = author.resolved_permissions
    if resolved is not None and resolved.manage_guild:
        return True
    wanted = set(settings.admin_role_ids)
    return any(role.id in wanted for role in author.roles)


def is_admin(author: discord.abc.User, settings: Settings, owners: Collection[int] = ()) -> bool:
    """May run the admin commands, which act on the one model every server shares: the
    bot's owner anywhere (DMs too), or an admin of a HOME_GUILD_IDS server (of any server
    while HOME_GUILD_IDS is unset)."""
    if author.id in owners:
        return True
    if not manages_server(author, settings) or not isinstance(author, discord.Member):
        return False
    home = settings.home_guild_ids
    return not home or author.guild.id in home


def context_from_message(
    bot: MusicBot, message: discord.Message, source: str = PREFIX
) -> RequestContext:
    """The request behind a message; a Discord reply says which message it answers."""
    author = message.author
    channel = message.channel
    reference = message.reference

    async def followup(reply: Reply) -> None:
        await bot.send_reply(channel, reply)

    return RequestContext(
        guild_id=message.guild.id if message.guild else 0,
        channel_id=channel.id,
        user_id=author.id,
        user_name=author.display_name,
        is_admin=is_admin(author, bot.settings, bot.owners),
        manages_server=manages_server(author, bot.settings),
        source=source,
        mentions={m.id: m.display_name for m in message.mentions},
        replying_to=reference.message_id if reference is not None else None,
        followup=followup,
    )


def context_from_interaction(
    interaction: discord.Interaction, source: str, mentions: Mapping[int, str] | None = None
) -> RequestContext:
    """The request behind a slash command or a button (which answers the message it sits
    under); `followup` posts later replies through the interaction. `mentions` names the
    members a slash command's options point at (as a message's mentions do)."""
    bot = bot_of(interaction)

    async def followup(reply: Reply) -> None:
        await bot.send_reply(interaction, reply)

    message = interaction.message
    return RequestContext(
        guild_id=interaction.guild_id or 0,
        channel_id=interaction.channel_id or 0,
        user_id=interaction.user.id,
        user_name=interaction.user.display_name,
        is_admin=is_admin(interaction.user, bot.settings, bot.owners),
        manages_server=manages_server(interaction.user, bot.settings),
        source=source,
        mentions=MappingProxyType(dict(mentions or {})),
        replying_to=message.id if message is not None else None,
        followup=followup,
    )


def bot_of(interaction: discord.Interaction) -> MusicBot:
    client = interaction.client
    assert isinstance(client, MusicBot)
    return client


class FeatureCog(commands.Cog):
    """A feature's Discord surface. `send_reply` asks every loaded FeatureCog for the
    items it puts under a reply (`reply_items`, e.g. buttons for the reply's actions) and
    tells it which message a public answer became (`reply_sent`). `dynamic_items` are
    registered while the cog is loaded, so their buttons work on messages sent before a
    restart. Subclasses that override cog_load/cog_unload call super()."""

    dynamic_items: ClassVar[tuple[type[discord.ui.DynamicItem[Any]], ...]] = ()

    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        if self.dynamic_items:
            self.bot.add_dynamic_items(*self.dynamic_items)

    async def cog_unload(self) -> None:
        if self.dynamic_items:
            self.bot.remove_dynamic_items(*self.dynamic_items)

    def reply_items(self, reply: Reply) -> list[discord.ui.Item[Any]]:
        return []

    async def reply_sent(self, reply: Reply, message_id: int) -> None:
        return None


class MusicBot(commands.Bot):
    """commands.Bot plus the shared Services; see the module docstring."""

    def __init__(
        self, settings: Settings, services: Services | None = None, **options: Any
    ) -> None:
        super().__init__(
            command_prefix=command_prefix(settings),
            intents=intents_for(settings),
            help_command=None,  # `help` is a handler like the others
            allowed_mentions=NO_MENTIONS,  # user text never pings anyone
            case_insensitive=True,
            **options,
        )
        self.settings = settings
        self.services = services or Services(settings)
        self._tree_checked = False

    async def setup_hook(self) -> None:
        await self.services.start()
        for extension in COGS:
            if extension not in self.extensions:
                await self.load_extension(extension)
        self.install_prefix_commands()
        install_app_commands(self)
        # The tree reaches Discord in on_ready, and only when it changed: no network here.

    def install_prefix_commands(self) -> None:
        """A generic prefix command for every registered handler a cog does not define."""
        for spec in self.services.registry.specs():
            if self.get_command(spec.name) is None:
                self.add_command(_prefix_command(spec))

    def feature_cogs(self) -> list[FeatureCog]:
        return [cog for cog in self.cogs.values() if isinstance(cog, FeatureCog)]

    def reply_view(self, reply: Reply) -> discord.ui.View | None:
        """One View with every item the feature cogs put under this Reply, or None."""
        items = [item for cog in self.feature_cogs() for item in cog.reply_items(reply)]
        if not items:
            return None
        view = discord.ui.View(timeout=None)
        for item in items[:25]:
            view.add_item(item)
        return view

    async def send_reply(
        self,
        to: Destination,
        reply: Reply,
        *,
        private: bool | None = None,
        replace: bool = False,
    ) -> discord.Message | None:
        """Send `reply` to Discord: the one send path every cog uses.

        `to` is a command's context (`ctx.send`, which answers a hybrid command's
        interaction too), a message (answered as a Discord reply), a channel, or an
        interaction (its response, or a follow-up message once it was answered).
        `private` shows the reply only to the member where Discord can (interactions);
        by default refusals and errors (kind not OK) are private and answers public.
        `replace` answers a button by replacing the message it sits under.

        Once a public answer is sent, each feature cog's `reply_sent` learns its message
        id. Returns the sent message when Discord says which it is.
        """
        interaction = isinstance(to, discord.Interaction) or (
            isinstance(to, commands.Context) and to.interaction is not None
        )
        if reply.find(Quiet) is not None and not interaction:
            return None  # e.g. the 5th message of a flood: no answer, no message
        ephemeral = reply.is_private if private is None else private
        view = self.reply_view(reply)
        files = [
            discord.File(io.BytesIO(a.content), filename=a.filename)
            for a in reply.actions
            if isinstance(a, Attachment)
        ]
        options: dict[str, Any] = {"embed": to_embed(reply), "allowed_mentions": NO_MENTIONS}
        if files:
            options["files"] = files
        message: discord.Message | None = None
        message_id: int | None = None
        if isinstance(to, discord.Interaction) and replace:
            options.pop("allowed_mentions")  # an edit mentions no one anew
            if files:
                options["attachments"] = options.pop("files")
            await to.response.edit_message(view=view, **options)
            message_id = to.message.id if to.message is not None else None
        else:
            if view is not None:
                options["view"] = view
            if isinstance(to, discord.Interaction):
                if to.response.is_done():
                    message = await to.followup.send(ephemeral=ephemeral, wait=True, **options)
                else:
                    callback = await to.response.send_message(ephemeral=ephemeral, **options)
                    message_id = callback.message_id
            elif isinstance(to, commands.Context):
                message = await to.send(ephemeral=ephemeral, **options)
            elif isinstance(to, discord.Message):
                message = await to.reply(mention_author=False, **options)
            else:
                message = await to.send(**options)
        if message is not None:
            message_id = message.id
        hidden = ephemeral and interaction
        if message_id is not None and not hidden:
            await self._tell_sent(reply, message_id)
        return message

    async def _tell_sent(self, reply: Reply, message_id: int) -> None:
        for cog in self.feature_cogs():
            try:
                await cog.reply_sent(reply, message_id)
            except Exception:  # the answer is out; a feature's bookkeeping must not undo it
                log.exception("%s could not note sent message %s", cog.qualified_name, message_id)

    async def answer_interaction(
        self,
        interaction: discord.Interaction,
        name: str,
        text: str = "",
        mentions: Mapping[int, str] | None = None,
        source: str = SLASH,
    ) -> Reply:
        """Run handler `name` for an application command (or a button: `source`) and
        answer it: the same
        handler, rules and send path as its prefix form. A slow handler (a busy machine)
        shows "thinking…" first; if its answer is then private, the public "thinking…"
        goes away and the answer comes only to the asker."""
        ctx = context_from_interaction(interaction, source, mentions)
        work = asyncio.ensure_future(self.services.handle(name, ctx, text))
        done, _ = await asyncio.wait({work}, timeout=DEFER_AFTER_SECONDS)
        deferred = not done and not interaction.response.is_done()
        if deferred:
            await interaction.response.defer(thinking=True)
        reply = await work
        if deferred and reply.is_private:
            try:
                await interaction.delete_original_response()
            except discord.HTTPException:
                log.warning("could not remove the thinking message of /%s", name)
        await self.send_reply(interaction, reply)
        return reply

    async def respond(self, ctx: commands.Context[Any], name: str, text: str = "") -> Reply:
        """Run handler `name` for a prefix command and send its Reply."""
        reply = await self.services.handle(name, context_from_message(self, ctx.message), text)
        await self.send_reply(ctx, reply)
        return reply

    async def on_command_error(
        self, ctx: commands.Context[Any], error: commands.CommandError
    ) -> None:
        """Short, friendly answers; tracebacks go to the log, never to the chat."""
        if isinstance(error, commands.CommandNotFound):
            return  # another bot's prefix, or a typo: stay quiet
        prefix = self.settings.command_prefix
        if isinstance(error, commands.CommandOnCooldown):
            reply = slow_down_reply(error.retry_after)
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
            await self.send_reply(ctx, reply)
        except discord.HTTPException:
            log.exception("could not send the error reply in channel %s", ctx.channel.id)

    @property
    def owners(self) -> frozenset[int]:
        """The bot's owner (or its team's members), once Discord has said who that is."""
        ids = set(self.owner_ids or ())
        if self.owner_id is not None:
            ids.add(self.owner_id)
        return frozenset(ids)

    async def on_ready(self) -> None:
        log.info("connected as %s to %d server(s)", self.user, len(self.guilds))
        if not self.owners and self.user is not None:
            try:  # discord.py learns the owner from the application and keeps it
                await self.is_owner(self.user)
            except discord.HTTPException:
                log.warning("could not learn the bot's owner from Discord")
        if not self.settings.home_guild_ids and len(self.guilds) > 1:
            ids = ",".join(str(guild.id) for guild in self.guilds[:10])
            log.warning(
                "HOME_GUILD_IDS is not set: the admins of all %d servers may retrain, roll "
                "back and export the shared model; set it to the servers you run, "
                "e.g. HOME_GUILD_IDS=%s (the ids of the servers the bot is in%s)",
                len(self.guilds),
                ids,
                ", first 10" if len(self.guilds) > 10 else "",
            )
        if not self._tree_checked and self.application_id is not None:
            self._tree_checked = True  # once per process; READY comes again on reconnects
            await publish_if_changed(self)

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            await self.services.close()


def command_prefix(settings: Settings) -> Any:
    """`!` (COMMAND_PREFIX) and a mention; a mention alone without PREFIX_COMMANDS, as
    Discord shows a bot the text of messages that mention it without any intent."""
    if settings.prefix_commands:
        return commands.when_mentioned_or(settings.command_prefix)
    return commands.when_mentioned


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


class ShardedMusicBot(MusicBot, commands.AutoShardedBot):
    """The bot connecting SHARD_IDS of SHARD_COUNT shards (all of them if SHARD_IDS is
    empty): each process started with its own SHARD_IDS serves its share of the guilds."""

    def __init__(self, settings: Settings, services: Services | None = None) -> None:
        super().__init__(
            settings,
            services,
            shard_count=settings.shard_count,
            shard_ids=list(settings.shard_ids) or None,
        )


def create_bot(settings: Settings | None = None) -> MusicBot:
    """Build the bot from settings (env/.env by default). No network, no I/O.

    With SHARD_COUNT set it is sharded; otherwise one connection, as before."""
    settings = settings or Settings()
    if settings.shard_count is not None:
        return ShardedMusicBot(settings)
    return MusicBot(settings)
