"""Training runs as the user sees them: one progress message edited in place, then the result.

The progress message exists only in this process; if the bot restarts mid-run the result
still arrives, as a new message in the chat the job remembers (`notify_chat_id`).
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from serving.protocol import TrainProgress
from bot.training.queue import JobEvent, TrainingQueue
from storage import Store
from storage.models import Job

from .collage import make_collage
from .messages import Button, Channel, Reply
from .progress import ProgressMessage

log = logging.getLogger(__name__)

ChannelOpener = Callable[[str], Awaitable[Channel]]


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return ", less than a minute left"
    return f", about {round(seconds / 60)} min left"


def progress_text(name: str, p: TrainProgress | None) -> str:
    """The progress line; when the trainer adds rounds the percentage drops back, so it says why."""
    if p is None or p.stage != "training":
        return f"Learning {name}: getting ready…"
    rounds = f"round {p.epoch} of {p.epochs}"
    if p.extended:
        rounds += f", extra rounds to tell {name} from look-alikes"
    return f"Learning {name}: {round(100 * p.fraction)}% ({rounds}{_eta(p.eta_seconds)})"


def _cancel_button(job: Job) -> list[list[Button]]:
    return [[Button("Stop", f"stop:{job.id}")]]


class JobTracker:
    def __init__(self, store: Store, queue: TrainingQueue) -> None:
        self.store = store
        self.queue = queue
        self._openers: dict[str, ChannelOpener] = {}
        self._progress: dict[int, ProgressMessage] = {}
        self._channels: dict[int, Channel] = {}
        self._in_group: set[int] = set()  # jobs tracked in a group chat
        queue.subscribe(self.on_event)

    def register_notifier(self, platform: str, opener: ChannelOpener) -> None:
        self._openers[platform] = opener

    async def track(self, job: Job, channel: Channel, name: str, position: int, reason: str = "", *,
                    in_group: bool = False) -> None:
        """Show the job's progress in `channel`; a concept taught in a group is offered for sharing
        there when it is ready."""
        if in_group:
            self._in_group.add(job.id)
        line = "next in line" if position <= 1 else f"#{position} in line"
        lead = f"{reason}. " if reason else ""
        sent = await channel.send(Reply(f"{lead}Learning {name}: waiting ({line})…", buttons=_cancel_button(job)))
        self._progress[job.id] = ProgressMessage(sent)
        self._channels[job.id] = channel

    async def on_event(self, event: JobEvent) -> None:
        name, job = event.concept.display_name, event.job
        progress = self._progress.get(job.id)
        if event.kind in ("started", "progress"):
            if progress is None:
                return
            await progress.update(Reply(progress_text(name, event.progress), buttons=_cancel_button(job)))
            return
        if event.kind == "retrying":
            if progress is not None:
                await progress.update(Reply(f"Learning {name} was interrupted; trying again…",
                                            buttons=_cancel_button(job)))
            return
        final = {
            "done": f"Learning {name}: done ✅",
            "failed": f"Learning {name}: failed",
            "cancelled": f"Stopped learning {name}. Nothing changed.",
        }[event.kind]
        if progress is not None:
            await progress.update(Reply(final), final=True)
        self._progress.pop(job.id, None)
        in_group = job.id in self._in_group
        self._in_group.discard(job.id)
        channel = self._channels.pop(job.id, None) or await self._open(job)
        if channel is None:
            return
        if event.kind == "done":
            await channel.send(await self._ready_reply(event, in_group))
        elif event.kind == "failed":
            await channel.send(Reply(f"I couldn't learn {name} ({event.error}). Your photos are kept: "
                                     f"/teach {name} and /done to try again."))
        elif progress is None:
            await channel.send(Reply(final))

    async def _ready_reply(self, event: JobEvent, in_group: bool) -> Reply:
        name = event.concept.display_name
        photos = [await self.store.read_photo(p) for p in await self.store.list_photos(event.concept.id, "positive")]
        try:
            images = [make_collage(photos)] if photos else []
        except Exception:  # a collage is a nicety; never lose the message over it
            log.exception("collage failed for concept %s", event.concept.id)
            images = []
        if event.job.params.get("warm_start"):
            return Reply(f"I've refreshed {name} with your new photos and corrections.", images=images)
        if event.job.params.get("relearn"):
            return Reply(f"I've learned {name} again, on the model I run now ({event.concept.base_model}), "
                         f"from your photos; ask me about {name} as before.", images=images)
        text = f"{name} is ready! Send a photo and ask “is {name} in this?”, or ask me anything about {name}."
        if not in_group:
            return Reply(text, images=images)
        # Taught in a group, the concept is still its owner's alone: offer to share it here.
        return Reply(f"{text}\nOnly you can ask me about {name} here until you share it (/share {name}).",
                     images=images, buttons=[[Button(f"Share {name} here", f"share:{event.concept.id}")]])

    async def _open(self, job: Job) -> Channel | None:
        opener = self._openers.get(job.notify_platform or "")
        if opener is None or job.notify_chat_id is None:
            return None
        try:
            return await opener(job.notify_chat_id)
        except Exception:
            log.exception("could not reach chat %s on %s", job.notify_chat_id, job.notify_platform)
            return None
