"""`musicbot chat`: the bot in a terminal, through the same handlers as Discord.

Reads lines from stdin (a terminal or a pipe): a bare line asks for recommendations, a
line starting with the prefix (or `/`) runs that command, `quit`/`exit`/EOF leaves.
It is not in a server: guild 0, channel 0, one local user (id 0).
"""

from __future__ import annotations

import asyncio
import getpass
import sys
import threading
from dataclasses import replace
from typing import TextIO

from bot.core.dispatch import CONSOLE, RequestContext, Services
from bot.core.replies import Reply, render_text
from bot.core.serving import PointerWatcher, model_store
from bot.core.settings import Settings
from bot.features.followups.replies import FOLLOW_UP_HINT, follow_up_hint
from recommender import DataError
from recommender.artifacts import ArtifactError

QUIT_WORDS = frozenset({"quit", "exit", ":q", "bye"})
CONSOLE_USER_ID = 0


# Typed without the prefix, these words are the command, not a song called "Help" or
# "More" (`recommend help` still finds that song); `like` and `why` take a number.
BARE_COMMANDS = frozenset({"help", "more", "history", "status"})
BARE_NUMBERED = frozenset({"like", "why"})


def parse_line(line: str, prefix: str) -> tuple[str, str]:
    """(command, text) for one typed line; a bare line means `recommend`, except the
    follow-up words (`more`, `like 3`, `why 2`) and `help`, `history`, `status`."""
    for marker in (prefix, "/"):
        if line.startswith(marker) and len(line) > len(marker):
            name, _, text = line[len(marker) :].partition(" ")
            return name.lower(), text.strip()
    word, _, rest = line.strip().partition(" ")
    word, rest = word.lower(), rest.strip()
    if (word in BARE_COMMANDS and not rest) or (word in BARE_NUMBERED and rest.isdigit()):
        return word, rest
    return "recommend", line


def console_context(user_name: str | None = None) -> RequestContext:
    try:
        name = user_name or getpass.getuser()
    except Exception:  # no passwd entry in some containers
        name = "you"
    return RequestContext(
        user_id=CONSOLE_USER_ID, user_name=name, is_admin=True, manages_server=True, source=CONSOLE
    )


async def read_line(stdin: TextIO) -> str:
    """One line from `stdin`, read in a daemon thread: a read still waiting on the
    terminal must not hold up the exit when SIGTERM stops the console."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str] = loop.create_future()

    def deliver(line: str | None, error: BaseException | None) -> None:
        if answer.done():  # the console stopped while we read
            return
        if error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(line or "")

    def read() -> None:
        try:
            line = stdin.readline()
        except BaseException as error:  # handed to the waiting coroutine
            loop.call_soon_threadsafe(deliver, None, error)
        else:
            loop.call_soon_threadsafe(deliver, line, None)

    threading.Thread(target=read, name="console-stdin", daemon=True).start()
    return await answer


async def chat(
    settings: Settings,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    services: Services | None = None,
) -> int:
    """Run the console until quit/EOF; returns the process exit code."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty()

    def say(text: str) -> None:
        print(text, file=stdout, flush=True)

    services = services or Services(settings)
    try:
        try:
            await services.start(say=say)
        except (DataError, ArtifactError, OSError) as error:
            # No model and no usable dataset, or a damaged model: say what, not a traceback.
            print(f"musicbot chat: cannot start: {error}", file=sys.stderr, flush=True)
            return 1
        # Serve what MODEL_DIR's pointer names, as the bot does (another process retrains).
        watcher = PointerWatcher(
            services.models, model_store(settings), settings.model_poll_seconds
        )
        watcher.start()
        services.on_close(watcher.stop)

        prefix = settings.command_prefix

        def shown(reply: Reply) -> str:
            # Answers name the slash forms of the follow-ups (they work everywhere); here
            # the prefix, as every other hint in this console does.
            return render_text(reply).replace(FOLLOW_UP_HINT, follow_up_hint(prefix))

        async def followup(reply: Reply) -> None:
            say(shown(reply) + "\n")

        ctx = replace(console_context(), followup=followup)
        say(
            f"Type a song for recommendations, {prefix}help for commands (help, more, "
            "like 3 and why 2 work without it too), quit to leave."
        )
        while True:
            if interactive:
                print("> ", end="", file=stdout, flush=True)
            line = await read_line(stdin)
            if not line:  # EOF
                break
            line = line.strip()
            if not line:
                continue
            if line.lower() in QUIT_WORDS:
                break
            if not interactive:
                say(f"> {line}")
            name, text = parse_line(line, prefix)
            reply = await services.handle(name, ctx, text)
            say(shown(reply) + "\n")
    finally:
        await services.close()
    say("Bye!")
    return 0
