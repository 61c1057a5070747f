"""Text helpers every feature shares, one copy each: cleaning what members type,
Discord markdown escaping, inline code, clipping, relative times, and markdown back to
plain terminal text."""

from __future__ import annotations

import re
from datetime import datetime

# What members type is kept and shown as one line of visible text. Dropped: control
# characters (NUL, which PostgreSQL refuses in text, and the rest of C0/C1), bidirectional
# overrides, embeddings, isolates and marks (they reorder the text around them: a title
# could read backwards or hide where a name ends), invisible zero-width characters, and
# lone surrogates (no encoding can store them).
_DROPPED = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f"
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\u200b\u2060-\u2064\ufeff\u180e"
    "\ud800-\udfff]"
)
# Line breaks, tabs and runs of spaces of any kind become one space: titles stay one line.
_SPACES = re.compile(r"\s+")
# Zero-width joiners are kept where they join two visible characters (emoji sequences,
# Persian and Indic names need them), dropped anywhere else.
_STRAY_JOINERS = re.compile(r"(?<!\S)[\u200c\u200d]+|[\u200c\u200d]+(?!\S)")
_JOINER_RUNS = re.compile(r"([\u200c\u200d])[\u200c\u200d]+")


def clean(text: str) -> str:
    """Member text (a command's words, a session's name, a nickname) as the bot stores
    and shows it, the same on every database: one line of visible characters."""
    text = _DROPPED.sub("", text)
    if "\u200c" in text or "\u200d" in text:
        text = _JOINER_RUNS.sub(r"\1", _STRAY_JOINERS.sub("", text))
    return _SPACES.sub(" ", text).strip()


_MARKDOWN = re.compile(r"([\\*_`~|>\[\]()#-])")


def md(text: str) -> str:
    """Escape Discord markdown in catalog or user text (the console unescapes it)."""
    return _MARKDOWN.sub(r"\\\1", text)


def code(text: str) -> str:
    """Inline code that cannot be broken out of by backticks in the text."""
    return "`" + text.replace("`", "ʼ") + "`"


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, with an ellipsis when cut (user text in titles, fields)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ago(when: datetime, now: datetime) -> str:
    """How long ago, in a few words ("5 min ago"); older than a week, the date."""
    seconds = max((now - when).total_seconds(), 0)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 7 * 86400:
        return f"{int(seconds // 86400)} d ago"
    return when.strftime("%Y-%m-%d")


_UNESCAPE = re.compile(r"\\([\\*_`~|>\[\]()#-])")


def plain(text: str) -> str:
    """Discord markdown → terminal text: drop bold/code marks, keep escaped characters."""
    out: list[str] = []
    for part in re.split(r"(\\.)", text):
        if _UNESCAPE.fullmatch(part):
            out.append(part[1])
        else:
            out.append(part.replace("**", "").replace("`", ""))
    return "".join(out)
