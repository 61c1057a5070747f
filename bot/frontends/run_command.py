"""`musicbot run`, `musicbot sync` and `musicbot chat`: starting the bot, publishing its commands."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import signal
import sys
from typing import TYPE_CHECKING

from bot.frontends.cli_settings import NO_TOKEN, _settings
from bot.frontends.stopping import run_until_stopped

if TYPE_CHECKING:
    from bot.core.settings import Settings


def _run(args: argparse.Namespace) -> int:
    settings = _settings()
    token = settings.token
    if token is None:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    import aiohttp
    import discord

    from bot.core.db_outage import DatabaseUnavailable
    from bot.core.logs import setup_logging
    from bot.core.metrics import MetricsServer, MetricsUnavailable
    from bot.core.serving import TrainingStopped
    from bot.frontends.discord_app import create_bot
    from recommender import DataError
    from recommender.artifacts import ArtifactError

    if refused := _refuse_start(settings):
        return refused
    setup_logging(settings.log_level, secrets=[token], log_file=settings.log_file)
    # A bot that will not stop or answer can be asked what every thread is doing:
    # `kill -USR1 <pid>` writes their stacks to stderr, and the bot keeps running.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    bot = create_bot(settings)

    async def serve() -> None:
        # Token and intents are checked before the database and the model: a first start
        # trains for a minute, and Discord would only refuse the intents after it.
        if missing := await intents_not_granted(settings, token):
            raise IntentsNotGranted(missing)
        async with bot:  # leaving it closes the bot: cogs (scheduler, retrain), database
            server = None
            if settings.metrics_port is not None:  # up first: /health says "loading"
                server = MetricsServer(bot.services, settings.metrics_host, settings.metrics_port)
                await server.start()
            try:
                await bot.start(token)
            finally:
                if server is not None:
                    await server.stop()

    try:
        run_until_stopped(serve())
    except TrainingStopped as stopped:  # not a clean stop: there is still no model
        print(f"musicbot: {stopped}", file=sys.stderr)
        return 1
    except discord.LoginFailure:
        print("musicbot: Discord rejected DISCORD_TOKEN; check it in .env.", file=sys.stderr)
        return 1
    except (IntentsNotGranted, discord.PrivilegedIntentsRequired) as error:
        from bot.frontends.intents import intents_advice

        missing = error.missing if isinstance(error, IntentsNotGranted) else None
        print(f"musicbot: {intents_advice(settings, missing)}", file=sys.stderr)
        return 1
    except (DataError, ArtifactError, DatabaseUnavailable, MetricsUnavailable) as error:
        # Raised by setup_hook: no model and no usable DATA_PATH, a damaged model, or a
        # database that cannot be opened.
        print(f"musicbot: cannot start: {error}", file=sys.stderr)
        return 1
    except (OSError, TimeoutError, aiohttp.ClientError, discord.DiscordException) as error:
        # No network, DNS, a proxy or firewall in the way, or Discord itself down: a
        # supervisor restarting us gets the same line, not a 40-line traceback.
        logging.getLogger("musicbot").debug("cannot reach Discord", exc_info=error)
        print(
            f"musicbot: cannot reach Discord ({discord_problem(error)}); check this "
            "machine's network connection, DNS and firewall (it must reach discord.com "
            "over HTTPS), then start again.",
            file=sys.stderr,
        )
        return 1
    return 0


class IntentsNotGranted(Exception):
    """The application's Developer Portal settings lack intents the bot asks for."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(", ".join(missing))
        self.missing = missing


async def intents_not_granted(settings: Settings, token: str) -> list[str]:
    """Ask Discord (over HTTP, no gateway) which privileged intents the settings need
    but the application has not ticked; raises LoginFailure for a bad token."""
    import discord

    from bot.frontends.intents import intents_not_ticked, privileged_intents_needed

    if not privileged_intents_needed(settings):
        return []
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        await http.static_login(token)
        application = await http.application_info()
    finally:
        await http.close()
    flags = discord.ApplicationFlags._from_value(application.get("flags") or 0)
    return intents_not_ticked(settings, flags)


def _refuse_start(settings: Settings, program: str = "musicbot") -> int:
    """Exit status 1 with one line per path problem a start would meet, else 0."""
    from bot.core.preflight import path_problems

    problems = path_problems(settings)
    for problem in problems:
        print(f"{program}: cannot start: {problem}", file=sys.stderr)
    return 1 if problems else 0


def discord_problem(error: BaseException) -> str:
    """A few words on why Discord could not be reached (never a traceback)."""
    from bot.frontends.intents import discord_problem as why

    return why(error)


def _sync(args: argparse.Namespace) -> int:
    """Log in over HTTP only (no gateway, no model, no database) and publish the tree."""
    settings = _settings()
    token = settings.token
    if token is None:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    import aiohttp
    import discord

    from bot.core.logs import setup_logging
    from bot.frontends.discord_app import create_bot
    from bot.frontends.slash import install_app_commands, login_for_commands, sync_now

    setup_logging("WARNING", secrets=[token])
    bot = create_bot(settings)
    install_app_commands(bot)

    async def publish() -> list[str]:
        try:
            await login_for_commands(bot, token)
            return await sync_now(bot, args.guild)
        finally:
            await bot.http.close()

    try:
        names = asyncio.run(publish())
    except discord.LoginFailure:
        print("musicbot: Discord rejected DISCORD_TOKEN; check it in .env.", file=sys.stderr)
        return 1
    except (OSError, TimeoutError, aiohttp.ClientError) as error:
        # The same line as `musicbot run` gives, not a traceback.
        print(
            f"musicbot sync: cannot reach Discord ({discord_problem(error)}); check this "
            "machine's network connection, DNS and firewall (it must reach discord.com "
            "over HTTPS), then try again.",
            file=sys.stderr,
        )
        return 1
    except discord.HTTPException as error:
        where = f"server {args.guild}" if args.guild else "Discord"
        print(
            f"musicbot sync: {where} refused the commands ({error.status}: {error.text[:200]}); "
            "is the bot in that server, invited with the applications.commands scope?",
            file=sys.stderr,
        )
        return 1
    where = f"server {args.guild} (at once)" if args.guild else "every server (global)"
    print(f"Published {len(names)} commands to {where}: {', '.join(names)}")
    return 0


def _chat(args: argparse.Namespace) -> int:
    from bot.core.logs import setup_logging
    from bot.core.serving import TrainingStopped
    from bot.frontends.console import chat

    settings = _settings()
    if refused := _refuse_start(settings, "musicbot chat"):
        return refused
    # The terminal is the conversation: only warnings and errors go to stderr.
    setup_logging("WARNING", secrets=[settings.token or ""], log_file=settings.log_file)
    try:
        code = run_until_stopped(chat(settings))
    except TrainingStopped as stopped:  # not a clean stop: there is still no model
        print(f"musicbot chat: {stopped}", file=sys.stderr)
        return 1
    return 0 if code is None else code
