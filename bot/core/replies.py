"""What a command answers, independent of where it is shown.

Handlers return a `Reply`; Discord renders it as an embed (bot/frontends/embed.py), the
console as plain text (`render_text` below). A Reply never holds Discord objects, so every
front end shows the same answer.

What a front end does with a reply besides showing it (buttons under it, a file next to
it) travels as typed `actions`: small frozen dataclasses subclassing `Action`. A feature
defines its own (the follow-ups' `FollowUp`, the votes' `Votes`, the forgetme
`ConfirmForget`) next to the code that reads it; `Attachment` is here because the send
path itself attaches files. Readers ask `reply.find(FollowUp)`: renaming an action is an
import error, never a silently missing button.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from bot.core.text import plain


class Kind(StrEnum):
    """The tone of a reply; the embed colour follows it, and on Discord an answer that is
    not OK (a refusal, an error, "slow down") is shown only to the asker where it can be,
    unless the Reply says otherwise (`Reply.private`)."""

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


@dataclass(frozen=True)
class Action:
    """Something a front end does with a reply besides showing it (see the module doc)."""


@dataclass(frozen=True)
class Attachment(Action):
    """A file sent with the reply on Discord (the console handler saves it itself)."""

    filename: str
    content: bytes


@dataclass(frozen=True)
class Quiet(Action):
    """Send this reply only where the front end must answer (a slash command or a button,
    which Discord shows as failed otherwise, privately); a message in a channel gets no
    answer at all. Flood control marks the refusals after the first one this way."""


ActionT = TypeVar("ActionT", bound=Action)


@dataclass(frozen=True)
class Reply:
    """A rendered-anywhere answer.

    `lines` is the main list (e.g. the 10 recommendations). `notice` is a sentence about
    something else that happened on the way (a session that ended by itself), shown
    before the description. `actions` are never shown as text (see the module doc).
    """

    title: str
    description: str = ""
    lines: Sequence[Line] = ()
    fields: Sequence[Field] = ()
    footer: str = ""
    kind: Kind = Kind.OK
    notice: str = ""
    actions: tuple[Action, ...] = ()
    # Who sees it on Discord where it can choose (slash commands, buttons): None follows
    # the kind (OK public, INFO and ERROR only the asker); False shows an informative
    # answer (a session's songs, "why #2", !status) to the channel like any answer.
    private: bool | None = None
    # Where the title links on Discord: the song an answer is about, so a click opens it
    # and "Songs like this" on the answer means that song, not its first pick.
    url: str | None = None

    @classmethod
    def error(cls, title: str, description: str = "", **kwargs: Any) -> Reply:
        return cls(title=title, description=description, kind=Kind.ERROR, **kwargs)

    @classmethod
    def info(cls, title: str, description: str = "", **kwargs: Any) -> Reply:
        return cls(title=title, description=description, kind=Kind.INFO, **kwargs)

    def find(self, kind: type[ActionT]) -> ActionT | None:
        """The reply's action of that type, or None."""
        return next((a for a in self.actions if isinstance(a, kind)), None)

    @property
    def is_private(self) -> bool:
        """Shown only to the asker where the front end can (see `private`)."""
        return self.kind is not Kind.OK if self.private is None else self.private

    @property
    def body(self) -> str:
        """The notice and the description, as one text."""
        return "\n".join(part for part in (self.notice, self.description) if part)


def slow_down_reply(wait: float, actions: Sequence[Action] = ()) -> Reply:
    """The answer to a member asking faster than the cooldown allows (`wait` seconds)."""
    when = f"in {wait:.0f}s" if wait >= 1 else "in a second"
    return Reply.info(
        "Slow down a little",
        f"You're asking faster than I can keep up. Try again {when}.",
        actions=tuple(actions),
    )


def not_a_song_reply(kind: str) -> Reply:
    """The answer to a Spotify link that names no single song (`Resolution.not_a_song`)."""
    what = "a local file" if kind == "local" else f"a Spotify {kind}"
    return Reply.error(
        f"That's {what}, not a song",
        "I need one song: in Spotify open the song, then Share → Copy Song Link, "
        "or type its title and artist.",
    )


def render_text(reply: Reply) -> str:
    """The reply as terminal text (the console `musicbot chat`, `musicbot recommend`)."""
    title = plain(reply.title)
    out = [title, "-" * min(len(title), 72)] if title else []
    if reply.body:
        out.append(plain(reply.body))
    if reply.lines:
        if reply.body:
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
