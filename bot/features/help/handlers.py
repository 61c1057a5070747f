"""`!help`: every command a member may use, or one command with its examples."""

from __future__ import annotations

from bot.core.dispatch import RequestContext, Services, command
from bot.core.replies import Field, Reply
from bot.core.text import code


@command("help", usage="[command]", summary="this list", aliases=("commands",))
async def help_(services: Services, ctx: RequestContext, text: str) -> Reply:
    prefix = services.settings.command_prefix
    wanted = text.removeprefix(prefix).strip()
    if wanted:
        spec = services.registry.get(wanted)
        if spec is None:
            return Reply.error("Unknown command", f"There is no {code(prefix + wanted)}.")
        examples = [code(f"{prefix}{spec.name} {ex}".strip()) for ex in spec.examples]
        return Reply.info(
            f"{prefix}{spec.name} {spec.usage}".strip(),
            spec.summary
            + (
                f"\nAlso: {', '.join(code(prefix + a) for a in spec.aliases)}"
                if spec.aliases
                else ""
            )
            + (f"\nExamples: {', '.join(examples)}" if examples else ""),
        )
    fields = []
    for spec in services.registry.specs():
        if spec.hidden or (spec.admin_only and not ctx.is_admin):
            continue
        # Two examples: a command read in more than one way (a song or an artist) shows both.
        examples = [code(f"{prefix}{spec.name} {ex}") for ex in spec.examples if ex][:2]
        value = spec.summary[:1].upper() + spec.summary[1:] + "."
        if examples:
            value += f"\ne.g. {', '.join(examples)}"
        fields.append(Field(name=f"{prefix}{spec.name} {spec.usage}".strip(), value=value))
    description = "I recommend music from a graph of 471 Spotify playlists."
    if not ctx.is_console:
        description += " Every command is a slash command too (`/recommend` suggests songs as you type): type `/` to see them."
    else:
        description = "Type a song to get recommendations, or a command below. `quit` leaves."
    return Reply.info("What I can do", description, fields=fields, private=False)
