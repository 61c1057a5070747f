"""What a command answers, independent of where it is shown.

Handlers return a `Reply`; the Discord cog renders it as an embed (bot/render.py), the
console as plain text (`render_text` below). A Reply never holds Discord objects, so every
front end shows the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.core.text import plain


class Kind(StrEnum):
    """The tone of a reply; the embed colour follows it."""

    OK = "ok"
    INFO = "info"
    ERROR = "error"


@dataclass(frozen=True)
class Line:
    """One list item: `text` (linked to `url` when shown on Discord) and a small `note`."""

    text: str
    url: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Field:
    name: str
    value: str
    inline: bool = False


@dataclass
class Reply:
    """A rendered-anywhere answer.

    `lines` is the main list (e.g. the 10 recommendations); `data` carries machine-readable
    facts for front ends and later features (query id, track ids for feedback buttons,
    the resolved track for follow-ups) and is never shown.
    """

    title: str
    description: str = ""
    lines: list[Line] = field(default_factory=list)
    fields: list[Field] = field(default_factory=list)
    footer: str = ""
    kind: Kind = Kind.OK
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def error(cls, title: str, description: str = "", **kwargs: Any) -> Reply:
        return cls(title=title, description=description, kind=Kind.ERROR, **kwargs)

    @classmethod
    def info(cls, title: str, description: str = "", **kwargs: Any) -> Reply:
        return cls(title=title, description=description, kind=Kind.INFO, **kwargs)


def render_text(reply: Reply) -> str:
    """The reply as terminal text (the console `musicbot chat`, `musicbot recommend`)."""
    title = plain(reply.title)
    out = [title, "-" * min(len(title), 72)] if title else []
    if reply.description:
        out.append(plain(reply.description))
    if reply.lines:
        if reply.description:
            out.append("")
        width = len(str(len(reply.lines)))
        for number, line in enumerate(reply.lines, 1):
            text = f"{number:>{width}}. {plain(line.text)}"
            if line.note:
                text += f" {plain(line.note)}"
            if line.url:
                text += f"\n{' ' * (width + 2)}{line.url}"
            out.append(text)
    for item in reply.fields:
        out.append(f"\n{plain(item.name)}\n  " + plain(item.value).replace("\n", "\n  "))
    if reply.footer:
        out.append(f"\n{plain(reply.footer)}")
    return "\n".join(out)
