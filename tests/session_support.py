"""Helpers for the Discord tests: a small real model, a bot started as `musicbot run`
starts it, and button clicks and slash commands through discord.py.

dpytest plays Discord's server for messages but knows nothing of components or
interactions. Small additions stand in for that part of the server, at the same level
dpytest works (the HTTP boundary), so discord.py itself runs unchanged:

- `keep_components(bot)`: the fake server remembers the components a message was sent
  with (dpytest drops them), as Discord does;
- `click(bot, message, custom_id, member)` and `slash(bot, channel, member, name, ...)`:
  Discord's INTERACTION_CREATE for a button press on that message or a slash command,
  fed to the real gateway parser (view store, DynamicItems, the command tree); the
  interaction's answer is recorded by `Responses` instead of an HTTP call.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest
from discord.ext.test import factories as facts
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

from bot import create_bot
from bot.core.settings import Settings
from bot.frontends.discord_app import MusicBot
from recommender import Recommender
from recommender.data import read_rows

SMALL_ROWS = 400  # 7 real playlists, 400 real tracks: trains in seconds
SMALL_EPOCHS = 30


def training_options(model: str = "seed-gcn") -> dict[str, Any]:
    """Few epochs when the default trainer takes them (it may change; then its defaults)."""
    from recommender.training import TRAINERS

    parameters = inspect.signature(TRAINERS[model]).parameters
    return {"epochs": SMALL_EPOCHS} if "epochs" in parameters else {}


@functools.cache
def small_model(dataset: Path) -> tuple[Path, Path]:
    """(CSV of the first SMALL_ROWS real rows, model trained on it), built once per run."""
    root = Path(tempfile.mkdtemp(prefix="musicbot-sessions-"))
    csv = root / "small.csv"
    read_rows(dataset).iloc[:SMALL_ROWS].to_csv(csv, index=False)
    model_dir = root / "model"
    Recommender.train(csv, progress=False, **training_options()).save(model_dir)
    return csv, model_dir


# -- bots and songs ------------------------------------------------------------------------
def pick_songs(model: Recommender, count: int) -> list[tuple[str, str]]:
    """(track_id, "title - artist") for songs from different playlists that resolve exactly."""
    catalog = model.catalog
    chosen: list[tuple[str, str]] = []
    seen_artists: set[str] = set()
    for playlist in range(catalog.num_playlists):
        members = catalog.memberships.loc[catalog.memberships["playlist"] == playlist, "track"]
        for row in members.tolist():
            track = model.track(model.catalog.tracks["track_id"].iloc[row])
            text = f"{track.name} - {track.artist}"
            resolved = model.resolve(text).best
            if (
                resolved
                and resolved.track_id == track.track_id
                and track.artist not in seen_artists
            ):
                chosen.append((track.track_id, text))
                seen_artists.add(track.artist)
                break
        if len(chosen) == count:
            return chosen
    raise AssertionError("not enough distinct songs in the small catalog")


def settings_for(
    data_dir: Path, data_path: Path, model_dir: Path, *, database_url: str, **extra: Any
) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=database_url,
        data_path=data_path,
        model_dir=model_dir,
        retrain_cron="off",
        cooldown_rate=0,
        **extra,
    )


async def start_bot(settings: Settings, members: int = 2) -> MusicBot:
    """A bot as `musicbot run` starts it; dpytest's fake server is set up before
    setup_hook, so what setup_hook registers (button handlers) lands on that server's state."""
    bot = create_bot(settings)
    await bot._async_setup_hook()
    dpytest.configure(bot, members=members)
    keep_components(bot)
    await bot.setup_hook()
    return bot


# -- components and clicks -----------------------------------------------------------------
COMPONENTS: dict[int, list[dict[str, Any]]] = {}
PAYLOADS: dict[int, dict[str, Any]] = {}


def keep_components(bot: discord.Client) -> None:
    """Let the fake server remember each sent message's components (by message id)."""
    http = bot.http
    if getattr(http, "_keeps_components", False):
        return
    original = http.send_message

    async def send_message(channel_id: int, *, params: Any) -> Any:
        # dpytest finds the channel in its caller's locals, so name it here.
        channel = bot.get_channel(channel_id)  # noqa: F841
        data = await original(channel_id, params=params)
        payload = params.payload
        if payload is None:  # with files the JSON travels in a multipart field
            part = next(p for p in params.multipart if p["name"] == "payload_json")
            payload = json.loads(part["value"])
        PAYLOADS[int(data["id"])] = payload
        COMPONENTS[int(data["id"])] = list(payload.get("components") or [])
        return data

    http.send_message = send_message  # type: ignore[method-assign]
    http._keeps_components = True  # type: ignore[attr-defined]


def components(message: discord.Message) -> list[dict[str, Any]]:
    return COMPONENTS.get(message.id, [])


def sent_embed(message: discord.Message) -> discord.Embed:
    """The message's embed as the bot sent it (dpytest drops embeds next to files)."""
    return discord.Embed.from_dict(PAYLOADS[message.id]["embeds"][0])


def buttons(message: discord.Message) -> list[dict[str, Any]]:
    """Every button on a message, row by row, with its row number as "row"."""
    return [
        {**button, "row": row}
        for row, action_row in enumerate(components(message))
        for button in action_row.get("components", [])
    ]


DEFERRED = 5  # the callback type of "thinking…"


class Responses(AsyncWebhookAdapter):
    """Discord's end of interaction callbacks: keeps each answer instead of sending it.
    A follow-up message (after "thinking…") is kept with `"followup": True`; removing the
    original response is counted in `deleted`."""

    def __init__(self) -> None:
        super().__init__()
        self.payloads: list[dict[str, Any]] = []
        self.deleted = 0

    def execute_webhook(  # type: ignore[override]
        self, webhook_id: int, token: str, *, payload: Any = None, **_: Any
    ) -> Any:
        self.payloads.append({"followup": True, **(payload or {})})

        async def sent() -> dict[str, Any]:  # the message Discord made of it
            return {
                "id": str(facts.make_id()),
                "channel_id": str(facts.make_id()),
                "author": {"id": str(webhook_id), "username": "musicbot", "discriminator": "0"},
                "content": "",
                "timestamp": "2026-01-01T00:00:00+00:00",
                "edited_timestamp": None,
                "tts": False,
                "mention_everyone": False,
                "mentions": [],
                "mention_roles": [],
                "attachments": [],
                "embeds": (payload or {}).get("embeds", []),
                "pinned": False,
                "type": 0,
                "flags": (payload or {}).get("flags", 0),
            }

        return sent()

    def delete_original_interaction_response(  # type: ignore[override]
        self, application_id: int, token: str, **_: Any
    ) -> Any:
        self.deleted += 1

        async def done() -> None:
            return None

        return done()

    def create_interaction_response(  # type: ignore[override]
        self, interaction_id: int, token: str, *, params: Any, **_: Any
    ) -> Any:
        payload = {"type": params.payload.get("type"), **(params.payload.get("data") or {})}
        self.payloads.append(payload)

        async def done() -> dict[str, Any]:
            return {"interaction": {"id": str(interaction_id), "type": 3}}

        return done()


LAST_RESPONSES: list[Responses] = []  # what the last interaction was answered with


@contextlib.contextmanager
def recorded_responses() -> Iterator[Responses]:
    adapter = Responses()
    LAST_RESPONSES[:] = [adapter]
    token = async_context.set(adapter)
    try:
        yield adapter
    finally:
        async_context.reset(token)


async def interact(
    bot: discord.Client,
    channel: discord.abc.GuildChannel,
    member: discord.Member,
    kind: int,
    data: dict[str, Any],
    *,
    permissions: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Discord's INTERACTION_CREATE of type `kind` from `member` in `channel`, fed to the
    real gateway parser; returns the bot's answer (the interaction callback's payload).
    `permissions`: the member's resolved permissions, as Discord sends them (a string)."""
    member_data = facts.dict_from_member(member)
    if permissions is not None:
        member_data["permissions"] = str(permissions)
    payload = {
        "id": str(facts.make_id()),
        "application_id": str(bot.user.id if bot.user else 1),
        "type": kind,
        "token": "interaction-token",
        "version": 1,
        "guild_id": str(channel.guild.id),
        "channel_id": str(channel.id),
        "channel": {"id": str(channel.id), "type": 0},
        "member": member_data,
        "data": data,
        "locale": "en-US",
        "attachment_size_limit": 8 * 1024 * 1024,
        "app_permissions": "0",
        "entitlements": [],
        "authorizing_integration_owners": {},
        "context": 0,
        **extra,
    }
    with recorded_responses() as responses:
        bot._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
        for _ in range(500):  # the view store and the command tree answer in tasks
            if responses.payloads and responses.payloads[-1].get("type") != DEFERRED:
                break
            await asyncio.sleep(0.01)
    assert responses.payloads, f"the bot did not answer the interaction {data!r}"
    return responses.payloads[-1]


async def click(
    bot: discord.Client, message: discord.Message, custom_id: str, member: discord.Member
) -> dict[str, Any]:
    """Press the button `custom_id` on `message` as `member`; returns the bot's answer."""
    assert any(b.get("custom_id") == custom_id for b in buttons(message)), (
        f"no button {custom_id!r} on that message"
    )
    message_data = facts.dict_from_message(message)
    message_data["components"] = components(message)
    data = {"custom_id": custom_id, "component_type": 2}
    return await interact(bot, message.channel, member, 3, data, message=message_data)


async def slash(
    bot: discord.Client,
    channel: discord.abc.GuildChannel,
    member: discord.Member,
    name: str,
    **options: str,
) -> dict[str, Any]:
    """`/name option:value …` as Discord sends it when `member` runs it in `channel`."""
    # dpytest swaps in its own connection state, which lost the tree's registration.
    bot._connection._command_tree = bot.tree  # type: ignore[attr-defined]
    data = {
        "id": str(facts.make_id()),
        "name": name,
        "type": 1,
        "options": [{"name": k, "type": 3, "value": v} for k, v in options.items()],
    }
    return await interact(bot, channel, member, 2, data)


def option(name: str, value: Any = None, **more: Any) -> dict[str, Any]:
    """One option as Discord sends it: 3 text, 4 integer, 5 yes/no, 6 user; a list of
    options as `value` makes a subcommand (1)."""
    if isinstance(value, list):
        return {"name": name, "type": 1, "options": value}
    kind = {bool: 5, int: 4}.get(type(value), 3)
    return {"name": name, "type": more.pop("type", kind), "value": value, **more}


async def app_command(
    bot: discord.Client,
    channel: discord.abc.GuildChannel,
    member: discord.Member,
    name: str,
    options: list[dict[str, Any]] | None = None,
    *,
    kind: int = 2,
    command_type: int = 1,
    permissions: int | None = None,
    **data: Any,
) -> dict[str, Any]:
    """`/name` with `options` (see `option`), or its autocomplete (`kind=4`, one option
    `focused`), or a context menu (`command_type` 3 message / 2 user, with `target_id`
    and `resolved` in `data`), as Discord sends it; returns the bot's answer."""
    bot._connection._command_tree = bot.tree  # type: ignore[attr-defined]
    payload = {
        "id": str(facts.make_id()),
        "name": name,
        "type": command_type,
        "options": options or [],
        **data,
    }
    if command_type != 1:
        payload.pop("options")
    return await interact(bot, channel, member, kind, payload, permissions=permissions)


def embed_of(answer: dict[str, Any]) -> discord.Embed:
    (embed,) = answer.get("embeds") or [None]
    assert embed is not None, answer
    return discord.Embed.from_dict(embed)


async def stop_bot(bot: Any) -> None:
    """A restart's first half: unload the cogs (loops, schedulers), close the database.

    `Bot.close()` would also close the gateway, which dpytest does not fake.
    """
    for extension in list(bot.extensions):
        await bot.unload_extension(extension)
    await bot.services.close()


@pytest.fixture(autouse=True)
async def fresh(bot: MusicBot):
    """Import into a test module whose `bot` fixture is a dpytest bot: each test starts
    with no cooldowns and no unread bot messages, and leaves none."""
    bot.services.cooldowns.reset()
    await dpytest.empty_queue()
    yield
    await dpytest.empty_queue()


def member(index: int) -> discord.Member:
    """Config member `index` of dpytest's fake server."""
    return dpytest.get_config().members[index]


async def say(text: str, who: int = 0) -> discord.Message:
    """One command from config member `who`; returns the bot's single answer."""
    await dpytest.message(text, member=who)
    reply = dpytest.get_message()
    assert dpytest.sent_queue.empty(), "one command, one message"
    return reply
