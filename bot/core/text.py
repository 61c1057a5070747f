"""Text helpers every feature shares, one copy each: Discord markdown escaping, inline
code, clipping, relative times, and markdown back to plain terminal text."""

from __future__ import annotations

import re
from datetime import datetime

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
