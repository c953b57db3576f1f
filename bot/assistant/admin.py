"""The bot's admins' commands: /status, /pause and /resume training, /block and /unblock.

Only admins (YO_ADMINS, and the terminal) reach these; the assistant tells everyone else
"That's for the bot's admins." Pause and blocks live in the store, so every process sharing
the data folder obeys them.
"""

from __future__ import annotations

from typing import Any

from .access import Access, Who, parse_account
from .context import Services, Turn


def size_text(count: int) -> str:
    """Bytes as a person reads them: 0 B, 12 KB, 3.4 MB, 1.2 GB."""
    amount, unit = float(count), "B"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if amount < 1000 or unit == "TB":
            break
        amount /= 1000
    return f"{amount:.0f} {unit}" if unit in ("B", "KB") or amount >= 100 else f"{amount:.1f} {unit}"


def workers_text(models: Any) -> str:
    """The model workers and their devices, as far as the model service says."""
    registry = getattr(models, "registry", None)  # a Ray cluster of `yo worker`s
    if registry is not None and hasattr(registry, "slots"):
        healthy = [(name, slot) for name, slot in sorted(registry.slots.items()) if slot.healthy]
        if not healthy:
            return "none connected"
        return "; ".join(f"{name} ({slot.info.get('device', '?')} on {slot.info.get('host', '?')}"
                         f"{', training' if slot.training else ''})" for name, slot in healthy)
    if hasattr(models, "worker_pid"):  # one local worker process
        where = getattr(models, "device", None) or "its own choice of device"
        state = "running" if models.worker_pid else "not started yet"
        return f"1 local, on {where}, {state}"
    return "not reported by the model service"


async def status(services: Services, turn: Turn) -> None:
    store = services.store
    counts = await store.overview()
    paused = await services.queue.paused()
    lines = [
        f"Model: {services.models.model_id}",
        "Training: paused (/resume starts it again)" if paused else "Training: on",
        f"Queue: {counts.queued_jobs} waiting, {counts.running_jobs} training",
        f"Workers: {workers_text(services.models)}",
        f"Users: {counts.users} · concepts: {counts.concepts} ({counts.ready_concepts} trained) · "
        f"photos: {counts.photos}",
        f"Blocked: {counts.blocked_users}",
        f"Data folder: {size_text(await store.disk_bytes())} ({store.data_dir})",
    ]
    await turn.say("\n".join(lines))


async def pause(services: Services, turn: Turn) -> None:
    if await services.queue.paused():
        await turn.say("Training is paused already. /resume starts it again.")
        return
    await services.queue.pause()
    await turn.say("Training is paused: no new training starts (running ones finish). /resume starts it again.")


async def resume(services: Services, turn: Turn) -> None:
    if not await services.queue.paused():
        await turn.say("Training isn't paused.")
        return
    await services.queue.resume()
    await turn.say("Training is on again.")


async def block(services: Services, turn: Turn, access: Access, argument: str, *, undo: bool = False) -> None:
    verb = "unblock" if undo else "block"
    account = parse_account(argument, turn.message.platform)
    if account is None:
        await turn.say(f"Say /{verb} PLATFORM:ID, for example /{verb} telegram:12345 (the number, "
                       f"not the @name), or /{verb} ID for someone on this platform.")
        return
    platform, user_id = account
    name = f"{platform}:{user_id}"
    if undo:
        done = await access.unblock(platform, user_id)
        await turn.say(f"Unblocked {name}." if done else f"{name} wasn't blocked.")
        return
    if access.is_admin(Who(platform, user_id)):
        await turn.say(f"{name} is an admin; take them off YO_ADMINS first.")
        return
    by = f"{turn.message.platform}:{turn.message.user_id}"
    done = await access.block(platform, user_id, by)
    await turn.say(f"Blocked {name}: they get a polite refusal from now on." if done
                   else f"{name} is blocked already.")
