"""discord.py extensions; each module has `async def setup(bot)`. Listed in bot.app.COGS."""
