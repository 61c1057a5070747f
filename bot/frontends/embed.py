"""Reply → discord.Embed, within Discord's size limits (a long answer is trimmed, never
rejected by the API)."""

from __future__ import annotations

import discord

from bot.core.replies import Kind, Reply
from bot.core.text import clip

COLOURS = {
    Kind.OK: discord.Colour(0x1DB954),  # Spotify green
    Kind.INFO: discord.Colour.blurple(),
    Kind.ERROR: discord.Colour.red(),
}
TITLE_MAX, DESCRIPTION_MAX, FIELD_NAME_MAX, FIELD_VALUE_MAX, FOOTER_MAX, FIELDS_MAX = (
    256,
    4096,
    256,
    1024,
    2048,
    25,
)


def line_markdown(number: int, text: str, url: str | None, note: str) -> str:
    head = f"[{text}]({url})" if url else text
    return f"{number}. {head} {note}".rstrip()


def to_embed(reply: Reply) -> discord.Embed:
    description = reply.body
    if reply.lines:
        rendered = [
            line_markdown(i, line.text, line.url, line.note)
            for i, line in enumerate(reply.lines, 1)
        ]
        body = "\n".join(rendered)
        while rendered and len(description) + 2 + len(body) > DESCRIPTION_MAX:
            rendered.pop()  # drop whole lines rather than cut a link in half
            body = "\n".join(rendered)
        description = f"{description}\n\n{body}" if description else body
    embed = discord.Embed(
        title=clip(reply.title, TITLE_MAX) or None,
        url=reply.url,
        description=clip(description, DESCRIPTION_MAX) or None,
        colour=COLOURS.get(reply.kind, COLOURS[Kind.INFO]),
    )
    for item in reply.fields[:FIELDS_MAX]:
        embed.add_field(
            name=clip(item.name, FIELD_NAME_MAX),
            value=clip(item.value, FIELD_VALUE_MAX),
            inline=item.inline,
        )
    if reply.footer:
        embed.set_footer(text=clip(reply.footer, FOOTER_MAX))
    return embed
