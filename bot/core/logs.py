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
    return handler
