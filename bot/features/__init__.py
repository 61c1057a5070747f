"""The bot's features, one package each; this file is where they are registered.

A feature folder holds everything of one capability: `handlers.py` (commands as
front-end-free handlers), `tables.py` (its database tables), its storage queries, and
`cog.py` (its Discord surface: buttons, views, background tasks). Nothing of a feature
lives outside its folder but the lines below. `bot/README.md` has the recipe for a new
command.
"""

from __future__ import annotations

import importlib

# Modules whose import registers commands with `@command`, in `!help` order.
HANDLERS: tuple[str, ...] = (
    "bot.features.recommend.handlers",
    "bot.features.help.handlers",
    "bot.features.retrain.handlers",
    "bot.features.followups.handlers",
    "bot.features.sessions.handlers",
    "bot.features.feedback.votes",
    "bot.features.privacy.handlers",
    "bot.features.catalog.handlers",
)

# Discord extensions (each has `async def setup(bot)`), loaded in this order at start-up.
COGS: tuple[str, ...] = (
    "bot.features.retrain.cog",
    "bot.features.followups.cog",
    "bot.features.sessions.cog",
    "bot.features.feedback.cog",
    "bot.features.privacy.cog",
)

# Modules with `context_menus(bot) -> list[app_commands.ContextMenu]`, added to the tree.
MENUS: tuple[str, ...] = ("bot.features.recommend.menus",)

# Modules that declare tables on `bot.core.tables.Base`.
TABLES: tuple[str, ...] = (
    "bot.features.recommend.tables",
    "bot.features.followups.tables",
    "bot.features.sessions.tables",
    "bot.features.feedback.tables",
    "bot.features.retrain.tables",
    "bot.features.catalog.tables",
)


def import_handlers() -> None:
    for module in HANDLERS:
        importlib.import_module(module)


def import_tables() -> None:
    """Register every feature's tables on `Base.metadata` (Alembic, schema checks)."""
    for module in TABLES:
        importlib.import_module(module)
