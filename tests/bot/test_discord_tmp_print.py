import asyncio
from tests.bot.test_discord_e2e import *  # noqa
from tests.bot.test_discord_e2e import teach_bo_in_dm

async def test_print(discord, yo):
    alice = discord.user("alice")
    await teach_bo_in_dm(discord, alice)
    await asyncio.sleep(0.5)
    for p in discord.posted: print(p.via, p.id, repr(p.content), repr(p.text), [e.content for e in p.edits])
    print(discord.unknown)
