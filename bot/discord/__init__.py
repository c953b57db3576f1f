"""The Discord adapter: discord.py events in, assistant Messages out, Replies back as Discord messages.

`run_discord` (in `bot.discord.app`) is what `yo run` starts when DISCORD_BOT_TOKEN is set.
Imports stay lazy here so that `import bot.discord` never shadows the `discord` library:
every module of this package imports the library absolutely (`import discord`).
"""
