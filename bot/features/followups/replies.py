"""What other features need to show a followable answer: the `FollowUp` action (the
buttons under the answer, and replies to it, steer conversation turn `turn_id`), the
footer hint, and the text saying which refinements were applied."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.replies import Action
from bot.core.text import md
from recommender import TrackResult
from recommender.followups import Answer

# Slash forms: they work on Discord with or without prefix commands, and in the console.
FOLLOW_UP_HINT = "follow up: /more · /like 3 · /refine chill, no remixes · /why 2"


@dataclass(frozen=True)
class FollowUp(Action):
    """This answer can be followed up; its state is conversation row `turn_id`."""

    turn_id: int


def _with_escaped_names(text: str, tracks: list[TrackResult]) -> str:
    """refine's texts italicise song names (*bad guy*) and name artists; escape those."""
    for track in tracks:
        text = text.replace(f"*{track.name}*", f"*{md(track.name)}*")
        text = text.replace(f"*{track.artist}*", f"*{md(track.artist)}*")  # songs like them
        for before in ("than ", "only "):
            text = text.replace(before + track.artist, before + md(track.artist))
    return text


def applied_text(answer: Answer) -> str:
    """'Applied: ...', the fewer-than-asked note and unknown words, for a description."""
    parts = []
    if answer.applied:
        parts.append("Applied: " + _with_escaped_names(answer.summary, answer.query))
    if answer.note:
        parts.append(_with_escaped_names(answer.note, answer.query))
    if answer.unknown:
        parts.append(md(answer.unknown_text))
    return "\n".join(parts)
