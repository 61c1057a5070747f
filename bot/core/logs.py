"""Logging set-up that never writes the Discord token (or any other secret) anywhere."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from logging.handlers import RotatingFileHandler
from pathlib import Path

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


FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# LOG_FILE rotates at this size, keeping this many old files (file.1 … file.5): a bot left
# running for months must not fill the disk with its log.
LOG_FILE_BYTES = 10 * 2**20
LOG_FILE_BACKUPS = 5


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


def setup_logging(
    level: str | int = "INFO", secrets: Iterable[str] = (), log_file: Path | None = None
) -> logging.Handler:
    """One stderr handler on the root logger, with secrets redacted; with `log_file`, the
    same records (every level the bot logs, whatever reaches stderr) in a rotating file.
    Returns the stderr handler."""
    secrets = list(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(FORMAT, secrets))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_musicbot", False)]:
        root.removeHandler(old)
        old.close()
    handlers: list[logging.Handler] = [handler]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = RotatingFileHandler(
            log_file, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8"
        )
        to_file.setFormatter(RedactingFormatter(FORMAT, secrets))
        handlers.append(to_file)
    for each in handlers:
        each._musicbot = True  # type: ignore[attr-defined]
        root.addHandler(each)
    root.setLevel(level if isinstance(level, int) else level.upper())
    for name in RECONNECT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ReconnectNoise) for f in logger.filters):
            logger.addFilter(ReconnectNoise())
    return handler
