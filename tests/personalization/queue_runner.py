"""A training queue in a process of its own, over a data folder, with the fake model service:
what the lease tests start (and kill) as real processes.

    python -m tests.personalization.queue_runner DATA_DIR STEPS STEP_SECONDS LEASE_SECONDS
"""

from __future__ import annotations

import asyncio
import sys

from bot.training.queue import TrainingQueue
from storage import Store
from tests.fakes.models import FakeModelService


async def main(data_dir: str, steps: int, step_seconds: float, lease_seconds: float) -> None:
    store = await Store.open(data_dir)
    queue = TrainingQueue(store, FakeModelService(train_steps=steps, step_seconds=step_seconds),
                          lease_seconds=lease_seconds, poll_seconds=0.1)
    await queue.start()
    print("started", flush=True)
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])))
