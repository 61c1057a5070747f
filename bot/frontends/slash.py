"""Every registered command as a Discord application command, built in one place from
the Registry: the name and description are the command's, the options come from its
`usage` ("<song>" a required song, "[@member]" an optional member, "[artist]" an optional
artist, "start [name] | add
<song> | ..." subcommands), and the callback runs the same handler as the prefix form
through `MusicBot.answer_interaction`. A new `@command` is a slash command with no
further code; `OPTIONS` below says how each usage word is typed, described and completed.

Admin-only commands carry `default_member_permissions` = Manage Server, so Discord hides
them from members (server admins can change that under Integrations); the handler's own
admin check still refuses anyone else who invokes them.

The tree reaches Discord only when it changed (`publish_if_changed`: a hash of the
commands as Discord receives them, kept next to the database), or with `musicbot sync`.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.core.dispatch import SLASH, CommandSpec, RequestContext, apology
from bot.core.replies import Reply
from bot.features import MENUS
from bot.features.recommend.handlers import artist_choices, autocomplete_choices
from bot.features.recommend.presence import seed_from_presence
from recommender.followups.grammar import completions

log = logging.getLogger(__name__)

ADMIN_PERMISSIONS = discord.Permissions(manage_guild=True)
MAX_CHOICES = 25  # Discord shows at most 25 autocomplete choices
TREE_HASH_FILE = "app_commands.sha256"

Completer = Callable[[commands.Bot, str], list[tuple[str, str]]]


def _songs(bot: commands.Bot, current: str) -> list[tuple[str, str]]:
    return autocomplete_choices(bot.services, current, MAX_CHOICES)  # type: ignore[attr-defined]  # the MusicBot's own (this module cannot import discord_app: a cycle)


def _artists(bot: commands.Bot, current: str) -> list[tuple[str, str]]:
    return artist_choices(bot.services, current, MAX_CHOICES)  # type: ignore[attr-defined]


def _requests(bot: commands.Bot, current: str) -> list[tuple[str, str]]:
    """Songs and the words the catalog knows (genres, moods, eras), for `/recommend`."""
    return autocomplete_choices(bot.services, current, MAX_CHOICES, words=True)  # type: ignore[attr-defined]


def _refinements(bot: commands.Bot, current: str) -> list[tuple[str, str]]:
    return [(text, text) for text in completions(current, MAX_CHOICES)]


def _commands(bot: commands.Bot, current: str) -> list[tuple[str, str]]:
    wanted = current.strip().lstrip("/!").casefold()
    # Admin commands are hidden from members in the picker, so they aren't suggested here
    # either (as `!help` leaves them out); an admin still gets `/help retrain` by typing it.
    specs = bot.services.registry.specs()  # type: ignore[attr-defined]  # the MusicBot's own (this module cannot import discord_app: a cycle)
    names = [s.name for s in specs if not s.hidden and not s.admin_only]
    return [(n, n) for n in names if n.startswith(wanted)][:MAX_CHOICES]


@dataclass(frozen=True)
class Option:
    """How a usage word becomes a slash option. `flag`: a yes/no option whose word is
    the text when set (`[force]`); `name`: the option's name if not the word."""

    description: str
    kind: Any = str
    complete: Completer | None = None
    flag: bool = False
    name: str | None = None
    template: str = "{}"  # how the value reads in the handler's text ("artist: {}")


# Usage words (`<song>`, `[n]`, ...) of every registered command; "command word" entries
# describe one command's use of a word. A word not listed is a plain text option.
OPTIONS: dict[str, Option] = {
    "song": Option("A song title, 'title - artist', an artist, or a Spotify link", complete=_songs),
    "recommend song": Option(
        "A song, 'title - artist', an artist, a Spotify link, or words: neo soul, chill 90s",
        complete=_requests,
    ),
    "artist": Option(
        "An artist: songs like them (with a song: that song by them)",
        complete=_artists,
        template="artist: {}",
    ),
    "n": Option("The song's number in the list", app_commands.Range[int, 1, 100]),
    "session next n": Option("How many songs (1–10, default 5)", app_commands.Range[int, 1, 10]),
    "member": Option("A member of this server (default: you)", discord.Member),
    "words": Option(
        "e.g. calmer, no remixes, 90s, other artists, reset", complete=_refinements, name="text"
    ),
    "command": Option("A command, for its examples", complete=_commands),
    "name": Option("The session's name"),
    "version": Option("A kept model version (default: the one before the current)"),
    "force": Option("Publish the new model even if it fails the quality checks", bool, flag=True),
    "catalog remove id": Option("The added song's id, as /catalog list shows it"),
}
# Options a command's slash form has beyond its usage words, all optional (the usage's
# own words become optional too, so any one of them will do): `/recommend artist` names
# an artist; its text reads "artist: <name>", which the prefix form takes as well.
EXTRA_OPTIONS: dict[str, tuple[str, ...]] = {"recommend": ("artist",)}
# Subcommands: what each does, as the picker shows it.
VERBS: dict[str, str] = {
    "session start": "Start a listening session in this channel",
    "session add": "Add a song to this channel's session",
    "session next": "What to play next for everyone in the session",
    "session show": "The session's songs so far",
    "session end": "End the session (its songs teach the next model)",
    "catalog list": "Songs added because the catalog lacked them (admins)",
    "catalog remove": "Keep an added song out of the next retrain (admins)",
}
LISTENING_SONG = Option("A song (default: what you're listening to on Spotify)", complete=_songs)

_WORD = re.compile(r"^([<\[])(@?)([a-z][a-z0-9_-]{0,31})[>\]]$")


@dataclass(frozen=True)
class Param:
    word: str  # the usage word ("song", "member")
    option: Option
    required: bool
    member: bool  # `@member`: the handler reads a mention

    @property
    def name(self) -> str:
        return self.option.name or self.word


@dataclass(frozen=True)
class Shape:
    """One slash command (or subcommand): the words before its options, its options."""

    name: str
    verb: str  # the text's first word for a subcommand ("add"), else ""
    params: tuple[Param, ...]


def shapes(spec: CommandSpec) -> list[Shape]:
    """The spec's usage as one command, or as subcommands (`a [x] | b <y> | c`).

    Raises ValueError for a usage it cannot read, so a new command's usage fails tests,
    not the bot's start."""
    alternatives = [a.split() for a in spec.usage.split("|")] if spec.usage.strip() else [[]]
    if len(alternatives) == 1 and not (alternatives[0] and _WORD.match(alternatives[0][0]) is None):
        params = _params(spec.name, alternatives[0])
        extra = EXTRA_OPTIONS.get(spec.name, ())
        if extra:
            params = tuple(
                Param(p.word, p.option, False, p.member)
                for p in (*params, *_params(spec.name, [f"[{w}]" for w in extra]))
            )
        return [Shape(spec.name, "", params)]
    subcommands = []
    for words in alternatives:
        if not words or _WORD.match(words[0]):
            raise ValueError(f"{spec.name}: every alternative of {spec.usage!r} starts with a word")
        verb = words[0]
        subcommands.append(Shape(verb, verb, _params(f"{spec.name} {verb}", words[1:])))
    return subcommands


def _params(where: str, words: Sequence[str]) -> tuple[Param, ...]:
    params = []
    for word in words:
        match = _WORD.match(word)
        if match is None:
            raise ValueError(f"{where}: cannot read usage word {word!r}")
        bracket, at, name = match.groups()
        option = OPTIONS.get(f"{where} {name}") or OPTIONS.get(name) or Option(f"The {name}")
        if at:
            option = OPTIONS["member"]
        params.append(Param(name, option, bracket == "<", bool(at)))
    return tuple(params)


def text_of(shape: Shape, values: dict[str, Any]) -> tuple[str, dict[int, str]]:
    """The handler's text for these option values (as if typed), and the members named."""
    parts = [shape.verb] if shape.verb else []
    mentions: dict[int, str] = {}
    for param in shape.params:
        value = values.get(param.name)
        if value is None or value is False or value == "":
            continue
        if param.member:
            mentions[value.id] = value.display_name
            parts.append(f"<@{value.id}>")
        elif param.option.flag:
            parts.append(param.word)
        else:
            parts.append(param.option.template.format(value))
    return " ".join(parts), mentions


# -- building the tree ---------------------------------------------------------------------
def app_commands_for(
    bot: commands.Bot,
) -> list[app_commands.Command[Any, ..., Any] | app_commands.Group]:
    """One application command (or group) per visible registered command."""
    built: list[app_commands.Command[Any, ..., Any] | app_commands.Group] = []
    listening = bot.settings.listening  # type: ignore[attr-defined]  # the MusicBot's own (this module cannot import discord_app: a cycle)
    for spec in bot.services.registry.specs():  # type: ignore[attr-defined]  # the MusicBot's own (this module cannot import discord_app: a cycle)
        if spec.hidden:
            continue
        summary = spec.summary.replace("`", "")  # the picker shows no markdown
        description = _clip(summary[:1].upper() + summary[1:])
        permissions = ADMIN_PERMISSIONS if spec.admin_only else None
        shaped = shapes(spec)
        if len(shaped) == 1 and not shaped[0].verb:
            built.append(_command(spec, shaped[0], description, permissions, listening))
            continue
        group = app_commands.Group(
            name=spec.name, description=description, default_permissions=permissions
        )
        for shape in shaped:
            verb_help = VERBS.get(f"{spec.name} {shape.verb}", f"{spec.name} {shape.verb}")
            group.add_command(_command(spec, shape, _clip(verb_help), None, listening))
        built.append(group)
    return built


def _command(
    spec: CommandSpec,
    shape: Shape,
    description: str,
    permissions: discord.Permissions | None,
    listening: bool,
) -> app_commands.Command[Any, ..., Any]:
    # With LISTENING, a song left out (and nothing else given) is the one the member is
    # playing on Spotify.
    words = [p.word for p in shape.params]
    from_presence = (
        listening
        and words[:1] == ["song"]
        and not any(p.required for p in shape.params[1:] if p.word != "song")
    )
    params = tuple(
        Param(p.word, LISTENING_SONG, False, False) if from_presence and p.word == "song" else p
        for p in shape.params
    )
    shape = Shape(shape.name, shape.verb, params)

    async def run(interaction: discord.Interaction, **values: Any) -> None:
        bot = interaction.client
        text, mentions = text_of(shape, values)
        if from_presence and all(values.get(p.name) is None for p in params):
            seed = seed_from_presence(bot, interaction.user, own=True)
            if isinstance(seed, Reply):
                await bot.send_reply(interaction, seed)  # type: ignore[attr-defined]  # the MusicBot's own (this module cannot import discord_app: a cycle)
                return
            text = f"{shape.verb} {seed}".strip()
        await bot.answer_interaction(interaction, spec.name, text, mentions)  # type: ignore[attr-defined]  # the MusicBot's own (this module cannot import discord_app: a cycle)

    parameters = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    for param in params:
        kind = param.option.kind
        parameters.append(
            inspect.Parameter(
                param.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=kind if param.required else kind | None,
                default=inspect.Parameter.empty if param.required else None,
            )
        )
    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]  # the signature discord.py reads the options from
    run.__qualname__ = run.__name__ = f"slash_{spec.name}_{shape.verb or 'command'}"
    command: app_commands.Command[Any, ..., Any] = app_commands.Command(
        name=shape.name, description=description, callback=run
    )
    command.default_permissions = permissions
    app_commands.describe(**{p.name: _clip(p.option.description) for p in params})(command)
    for param in params:
        if param.option.complete is not None:
            # discord.py types a callback as a coroutine function; ours is an async def
            # returned by a factory, which it reads as Awaitable.
            command.autocomplete(param.name)(_autocomplete(param.option.complete))  # type: ignore[arg-type]  # see above
    return command


def _autocomplete(
    complete: Completer,
) -> Callable[[discord.Interaction, str], Awaitable[list[app_commands.Choice[str]]]]:
    async def suggest(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            pairs = complete(interaction.client, current or "")  # type: ignore[arg-type]  # a MusicBot; discord.py types it as its base Client
        except Exception:
            # Suggestions as you type: none this time rather than none at all (discord.py
            # would only log it, leaving the member's picker spinning).
            log.exception("autocomplete for %r failed", current[:100])
            pairs = []
        return [
            app_commands.Choice(name=_clip(name), value=value[:100])
            for name, value in pairs[:MAX_CHOICES]
        ]

    return suggest


def _clip(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def install_app_commands(bot: commands.Bot) -> None:
    """Put every registered command (and the context menus) in the bot's command tree;
    commands a cog already added to the tree keep theirs."""
    for command in app_commands_for(bot):
        if bot.tree.get_command(command.name) is None:
            bot.tree.add_command(command)
    for module in MENUS:  # each feature's context menus
        for menu in importlib.import_module(module).context_menus(bot):
            if bot.tree.get_command(menu.name, type=menu.type) is None:
                bot.tree.add_command(menu)
    bot.tree.error(_on_tree_error)


async def _on_tree_error(
    interaction: discord.Interaction, error: app_commands.AppCommandError
) -> None:
    """Whatever goes wrong around an application command gets an answer, never Discord's
    bare "The application did not respond": an option discord.py cannot turn into its
    type (a member who is not in this server) says so; anything else is logged with a
    reference and the member gets the usual apology."""
    bot: Any = interaction.client
    name = interaction.command.name if interaction.command is not None else "?"
    if isinstance(error, app_commands.TransformerError) and error.type in (
        discord.AppCommandOptionType.user,
        discord.AppCommandOptionType.mentionable,
    ):
        reply = Reply.error("Who's that?", "I can only look up a member of this server.")
    elif isinstance(error, app_commands.TransformerError):
        reply = Reply.error("That didn't work", f"See `/help {name}` for how to use it.")
    else:
        ctx = RequestContext(
            guild_id=interaction.guild_id or 0,
            channel_id=interaction.channel_id or 0,
            user_id=interaction.user.id,
            source=SLASH,
        )
        reply = apology(name, ctx, getattr(error, "original", error))
    try:
        await bot.send_reply(interaction, reply)
    except discord.HTTPException:
        log.exception("could not answer the failed /%s", name)


# -- publishing the tree ----------------------------------------------------------------------
def tree_payload(tree: app_commands.CommandTree[Any]) -> list[dict[str, Any]]:
    """The global commands exactly as `tree.sync()` sends them."""
    return [command.to_dict(tree) for command in tree._get_all_commands(guild=None)]


def tree_hash(tree: app_commands.CommandTree[Any], application_id: int | None) -> str:
    payload = json.dumps(
        {"application": application_id, "commands": tree_payload(tree)},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def hash_path(bot: commands.Bot) -> Path:
    return Path(bot.settings.data_dir) / TREE_HASH_FILE  # type: ignore[attr-defined]  # the MusicBot's own (this module cannot import discord_app: a cycle)


async def publish_if_changed(bot: commands.Bot) -> bool:
    """Sync the global commands if they differ from the last ones published from this
    data folder; True if it synced. Discord rate-limits syncs, so never on every start.
    A failure is logged (prefix commands keep working) and retried at the next start."""
    path = hash_path(bot)
    current = tree_hash(bot.tree, bot.application_id)
    try:
        published = path.read_text().strip()
    except OSError:
        published = ""
    if published == current:
        log.info("slash commands unchanged since the last sync; not syncing")
        return False
    try:
        synced = await bot.tree.sync()
    except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError):
        log.exception("could not publish the slash commands; prefix commands still work")
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(current + "\n")
    except OSError as error:  # a full disk or read-only folder: published all the same
        log.warning(
            "could not note the published commands in %s (%s); the next start publishes them again",
            path,
            error,
        )
    log.info("slash commands published: %s", ", ".join(c.name for c in synced))
    return True


async def login_for_commands(bot: commands.Bot, token: str) -> None:
    """Log in over HTTP only, as far as publishing commands needs: the token checked and
    the application known. Unlike `Client.login` it runs no setup_hook (no database, no
    model), so `musicbot sync` takes a second."""
    await bot.http.static_login(token)
    application = await bot.application_info()
    bot._connection.application_id = application.id


async def sync_now(bot: commands.Bot, guild_id: int | None = None) -> list[str]:
    """`musicbot sync`: publish now, to one server (instant, for set-up) or globally
    (then the stored hash is updated too). Returns the names Discord now has."""
    if guild_id is not None:
        guild = discord.Object(id=guild_id)
        bot.tree.copy_global_to(guild=guild)
        synced = await bot.tree.sync(guild=guild)
    else:
        synced = await bot.tree.sync()
        path = hash_path(bot)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(tree_hash(bot.tree, bot.application_id) + "\n")
    return [c.name for c in synced]
