"""The gateway intents the settings need, whether the Developer Portal has ticked the
privileged ones, and the one line that tells an admin what to tick (or turn off)."""

from __future__ import annotations

import discord

from bot.core.settings import Settings


def intents_for(settings: Settings) -> discord.Intents:
    """The gateway intents the settings need; with PREFIX_COMMANDS and LISTENING off, no
    privileged one (slash commands, buttons and mentions need none)."""
    intents = discord.Intents.default()
    if settings.prefix_commands:
        intents.message_content = True  # prefix commands read message text
        intents.members = True  # `!history @member` names members from the cache
    if settings.listening:
        intents.presences = True  # members' Spotify activity
        intents.members = True  # presences arrive for cached members
    return intents


# Each privileged intent: its name in the Developer Portal, and the application flags
# that say it is ticked (the "limited" flag is what a bot in under 100 servers gets).
PRIVILEGED_INTENTS = {
    "message_content": ("Message Content", "gateway_message_content"),
    "members": ("Server Members", "gateway_guild_members"),
    "presences": ("Presence", "gateway_presence"),
}
PORTAL = "https://discord.com/developers/applications"


def privileged_intents_needed(settings: Settings) -> list[str]:
    """The Developer Portal names of the privileged intents the settings ask for."""
    intents = intents_for(settings)
    return [label for attr, (label, _) in PRIVILEGED_INTENTS.items() if getattr(intents, attr)]


def intents_not_ticked(settings: Settings, flags: discord.ApplicationFlags) -> list[str]:
    """The privileged intents the settings need that the application's flags lack."""
    intents = intents_for(settings)
    return [
        label
        for attr, (label, flag) in PRIVILEGED_INTENTS.items()
        if getattr(intents, attr)
        and not (getattr(flags, flag) or getattr(flags, f"{flag}_limited"))
    ]


def intents_advice(settings: Settings, missing: list[str] | None = None) -> str:
    """One line for an admin whose bot asks for intents the Developer Portal has off."""
    missing = privileged_intents_needed(settings) if missing is None else missing
    why = []
    if settings.prefix_commands:
        why.append("PREFIX_COMMANDS=on")
    if settings.listening:
        why.append("LISTENING=on")
    ways = " or ".join(f"{w.split('=')[0]}=off" for w in why)
    return (
        f"Discord has not granted the privileged intents {' and '.join(missing)} "
        f"({' and '.join(why)} need them): tick them in the Developer Portal ({PORTAL} → "
        f"your application → Bot → Privileged Gateway Intents) and start again, or set "
        f"{ways} to need none."
    )


def discord_problem(error: BaseException) -> str:
    """A few words on why Discord could not be reached (never a traceback)."""
    if isinstance(error, TimeoutError):
        return "timed out"
    cause = getattr(error, "os_error", None) or error
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror.lower()
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__
