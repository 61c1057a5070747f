"""Logging set-up that never writes the Discord token (or any other secret) anywhere."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

REDACTED = "[redacted]"


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then blanks every known secret in the whole text (tracebacks too)."""

    def __init__(self, fmt: str, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt)
        self.secrets = [s for s in secrets if s and len(s) >= 8]

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


# discord.py's own loggers that log every reconnect attempt with a full traceback.
RECONNECT_LOGGERS = ("discord.client", "discord.shard")


class ReconnectNoise(logging.Filter):
    """While Discord is unreachable, discord.py logs a traceback on every reconnect
    attempt (10 in 40 s). Each attempt becomes one INFO line saying why; the traceback
    goes to DEBUG, for whoever looks into it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Attempting a reconnect") or not record.exc_info:
            return True
        error = record.exc_info[1]
        logging.getLogger(record.name).debug(
            "the reconnect attempt's cause", exc_info=record.exc_info
        )
        reason = f"{type(error).__name__}: {error}".replace("%", "%%")
        record.msg = f"{record.msg} ({reason.splitlines()[0][:200] if reason else ''})"
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.exc_info, record.exc_text = None, None
        return logging.getLogger(record.name).isEnabledFor(logging.INFO)


def setup_logging(level: str | int = "INFO", secrets: Iterable[str] = ()) -> logging.Handler:
    """One stderr handler on the root logger, with secrets redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", secrets)
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_musicbot", False)]:
        root.removeHandler(old)
    handler._musicbot = True  # type: ignore[attr-defined]  # a mark on our own handler, to find it again
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    for name in RECONNECT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ReconnectNoise) for f in logger.filters):
            logger.addFilter(ReconnectNoise())
    return handler
