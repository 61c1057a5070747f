"""`musicbot doctor`: everything a start needs, checked in seconds and said in words.

It reads the settings, looks at every path, reaches the database (without creating or
migrating it), loads the serving model, measures free disk, and asks Discord whether the
privileged intents the settings need are ticked; then it prints the invite URL. Nothing
is trained or written, so an admin can run it before the first start and after any
change. Exit status 1 when something would stop the bot.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bot.core.preflight import free_megabytes, model_present, path_problems
from bot.core.settings import Settings, env_files

# The invite: scopes bot + applications.commands, and View Channels, Send Messages, Send
# Messages in Threads, Embed Links, Attach Files, Read Message History (README).
INVITE_PERMISSIONS = 274878024704
# Below this, a retrain (a new model version of about 100 MB) may not fit.
LOW_DISK_MB = 500


@dataclass(frozen=True)
class Finding:
    """One line of the report: `ok` False means the bot will not start or work right."""

    topic: str
    ok: bool
    text: str


def invite_url(application_id: int) -> str:
    return (
        f"https://discord.com/oauth2/authorize?client_id={application_id}"
        f"&scope=bot+applications.commands&permissions={INVITE_PERMISSIONS}"
    )


def _settings_found() -> Finding:
    files = [str(f) for f in env_files() if f.is_file()]
    where = ", ".join(files) if files else "no .env file (environment variables only)"
    return Finding("settings", True, f"read from {where}")


def _paths(settings: Settings) -> list[Finding]:
    problems = path_problems(settings)
    found = [Finding(p.setting, False, p.why) for p in problems]
    if not problems:
        found.append(
            Finding(
                "paths",
                True,
                f"DATA_DIR {settings.data_dir} and MODEL_DIR {settings.model_dir} are writable",
            )
        )
    for name, path in (("DATA_DIR", settings.data_dir), ("MODEL_DIR", settings.model_dir)):
        free = free_megabytes(path)
        found.append(
            Finding(
                "disk",
                free >= LOW_DISK_MB,
                f"{free:,} MB free for {name}"
                + ("" if free >= LOW_DISK_MB else f"; free at least {LOW_DISK_MB} MB"),
            )
        )
    return found


async def _database(settings: Settings) -> Finding:
    """Reachable, and at which migration (the bot upgrades it itself at start)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import make_url

    from bot.core.db import alembic_config, create_engine
    from bot.core.db_outage import unavailable_message

    url = settings.database_url_resolved
    parsed = make_url(url)
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
        return Finding("database", True, f"SQLite {parsed.database} is created at first start")
    engine = create_engine(url)
    try:
        async with asyncio.timeout(10):
            async with engine.connect() as connection:
                current = await connection.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision()
                )
    except Exception as error:  # noqa: BLE001 - any failure is reported in words
        return Finding("database", False, unavailable_message(url, error))
    finally:
        await engine.dispose()
    where = "SQLite" if parsed.get_backend_name() == "sqlite" else "PostgreSQL"
    if current == head:
        return Finding("database", True, f"{where} reachable, tables up to date ({head})")
    state = "empty" if current is None else f"at migration {current}"
    return Finding(
        "database",
        True,
        f"{where} reachable, {state}; the bot migrates it to {head} when it starts "
        "(back it up first: README, Run it 24/7)",
    )


def _model(settings: Settings) -> Finding:
    from bot.core.serving import load_current_model
    from recommender.artifacts import ArtifactError

    if not model_present(settings):
        return Finding(
            "model",
            True,
            f"none in {settings.model_dir} yet: the first start trains one from "
            f"{settings.data_path} (about a minute on 2 cores, ~1 GB of memory)",
        )
    try:
        model = load_current_model(settings)
    except (ArtifactError, OSError) as error:
        return Finding("model", False, f"{error}; retrain with `musicbot train`")
    counts = model.metadata.get("counts", {})
    return Finding(
        "model",
        True,
        f"{model.version} serves ({counts.get('tracks', len(model)):,} tracks; "
        f"scores by {model.scoring})",
    )


async def _discord(settings: Settings, offline: bool) -> list[Finding]:
    import aiohttp
    import discord

    from bot.frontends.intents import (
        discord_problem,
        intents_advice,
        privileged_intents_needed,
    )

    needed = privileged_intents_needed(settings)
    wanted = " and ".join(needed) if needed else "no privileged intent"
    found = [Finding("intents", True, f"the settings need {wanted}")]
    token = settings.token
    if token is None:
        found.append(
            Finding(
                "DISCORD_TOKEN",
                False,
                "not set; `musicbot run` needs it (Developer Portal → Bot → Reset Token)",
            )
        )
        return found
    if offline:
        return found
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        await http.static_login(token)
        application = await http.application_info()
    except discord.LoginFailure:
        return [*found, Finding("DISCORD_TOKEN", False, "Discord rejected it; copy it again")]
    except (OSError, TimeoutError, aiohttp.ClientError, discord.DiscordException) as error:
        return [
            *found,
            Finding("discord", False, f"cannot reach Discord ({discord_problem(error)})"),
        ]
    finally:
        await http.close()
    from bot.frontends.intents import intents_not_ticked

    flags = discord.ApplicationFlags._from_value(application.get("flags") or 0)
    missing = intents_not_ticked(settings, flags)
    if missing:
        found.append(Finding("intents", False, intents_advice(settings, missing)))
    elif needed:
        found.append(Finding("intents", True, "ticked in the Developer Portal"))
    found.append(
        Finding(
            "invite",
            True,
            f"{application.get('name', 'the bot')}: {invite_url(int(application['id']))}",
        )
    )
    return found


async def examine(settings: Settings, offline: bool = False) -> list[Finding]:
    found = [_settings_found()]
    found += _paths(settings)
    found.append(await _database(settings))
    found.append(await asyncio.to_thread(_model, settings))
    found += await _discord(settings, offline)
    return found


def report(found: list[Finding], out: TextIO = sys.stdout) -> int:
    """Print one line per finding; a short verdict last. Returns the exit status."""
    say: Callable[[str], None] = lambda line: print(line, file=out, flush=True)  # noqa: E731
    for finding in found:
        mark = "ok " if finding.ok else "!! "
        say(f"{mark} {finding.topic}: {finding.text}")
    problems = [f for f in found if not f.ok]
    if problems:
        say(f"{len(problems)} problem(s): fix the lines marked !! before `musicbot run`.")
        return 1
    say("Everything `musicbot run` needs is in place.")
    return 0
