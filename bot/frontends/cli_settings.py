"""The settings every `musicbot` subcommand starts from, or one line saying what is wrong."""

from __future__ import annotations

NO_TOKEN = (
    "musicbot: DISCORD_TOKEN is not set. Copy .env.example to .env and fill it in "
    "(or export DISCORD_TOKEN), or try the bot locally with `musicbot chat`."
)


def _settings():  # noqa: ANN202 - imported lazily so `musicbot --help` is instant
    from pydantic import ValidationError

    from bot.core.settings import EnvFileMissing, Settings

    try:
        return Settings()
    except EnvFileMissing as error:
        raise SystemExit(f"musicbot: {error}; point it at your .env file, or unset it") from None
    except ValidationError as error:
        problems = "; ".join(_problem(e["loc"], e["msg"]) for e in error.errors())
        raise SystemExit(f"musicbot: bad setting ({problems}); see .env.example") from None


def _problem(where: tuple[object, ...], message: str) -> str:
    """One bad setting, named; a check across settings names them in its own message."""
    message = message.removeprefix("Value error, ")
    return f"{'.'.join(map(str, where)).upper()}: {message}" if where else message
