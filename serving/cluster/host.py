"""`yo worker`: put this machine's GPUs (or its CPU) at the service of a Yo bot on a Ray cluster.

    YO_RAY_ADDRESS=bot-host:6379 YO_MODEL=llava-hf/llava-1.5-7b-hf yo worker

1. Joins the cluster: unless this machine already runs a Ray node, it starts one as a child
   process (`ray start --address=... --block`), so the node lives and dies with `yo worker`.
2. Connects as a Ray driver and starts the model actors *on this node* (node affinity): one
   per local GPU (`num_gpus=1`, so Ray gives each its own device), or one CPU worker. They are
   named `yo-worker-<host>-<i>` in the "yo" namespace; the bot host finds them by that name.
   Each loads the model once (`ModelActor`), and Ray restarts one that crashes (`max_restarts`).
3. Waits. On SIGTERM / Ctrl-C it kills its actors and stops the node it started. The actors are
   owned by this process, so if it dies they go too: no stray model holding a GPU.

The bot host keeps the store; workers are stateless, so machines come and go freely.
"""

from __future__ import annotations

import logging
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from .actor import NAME_PREFIX, NAMESPACE, ModelActor
from .connect import connect_driver, use_token_if_available

log = logging.getLogger(__name__)

# Threads per actor: a training job, a progress poll and a cancel, and up to a batch of
# questions (the Worker's max_batch is 16) all waiting at once, with room to spare.
ACTOR_THREADS = 64

_remote_class: Any = None


def _actor_class() -> Any:
    global _remote_class
    if _remote_class is None:
        _remote_class = ray.remote(ModelActor)
    return _remote_class


def local_node() -> tuple[str, float, float]:
    """This driver's node: (node id, GPUs, CPUs) as Ray counts them."""
    node_id = ray.get_runtime_context().get_node_id()
    for node in ray.nodes():
        if node["NodeID"] == node_id and node.get("Alive", True):
            resources = node.get("Resources", {})
            return node_id, float(resources.get("GPU", 0)), float(resources.get("CPU", 0))
    return node_id, 0.0, 0.0


def host_workers(model_id: str, *, count: int | None = None, device: str | None = None,
                 load_in_4bit: bool = False, torch_threads: int | None = None,
                 engine_options: dict[str, Any] | None = None, name: str | None = None,
                 namespace: str = NAMESPACE, prefix: str = NAME_PREFIX, max_restarts: int = -1,
                 wait: bool = True) -> list[Any]:
    """Start model actors on this node (the caller is connected to Ray); return their handles.

    Keep the handles: the caller owns the actors, and Ray ends one when its owner drops the
    last handle (or exits). `yo worker` holds them until it stops."""
    node_id, gpus, cpus = local_node()
    use_gpu = gpus >= 1 and device != "cpu"
    count = count or (int(gpus) if use_gpu else 1)
    if use_gpu:
        device = "cuda"  # Ray sets CUDA_VISIBLE_DEVICES to the actor's own GPU: it is cuda:0 there
    elif torch_threads is None:
        torch_threads = max(1, int(cpus) // count)  # share the cores rather than oversubscribe them
    label = re.sub(r"[^A-Za-z0-9_.-]", "-", name or socket.gethostname())
    names = [f"{prefix}{label}-{i}" for i in range(count)]
    for stale in names:  # left over by an earlier `yo worker` here that did not stop cleanly
        try:
            ray.kill(ray.get_actor(stale, namespace=namespace))
        except ValueError:
            pass
    resources: dict[str, Any] = {"num_gpus": 1} if use_gpu else {"num_cpus": 1}
    actors = [
        _actor_class().options(
            name=actor_name, namespace=namespace, max_concurrency=ACTOR_THREADS,
            max_restarts=max_restarts, max_task_retries=0,  # a lost job is the queue's to run again
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False), **resources,
        ).remote(model_id, device, load_in_4bit, torch_threads, engine_options)
        for actor_name in names
    ]
    if wait:
        ray.get([actor.hello.remote() for actor in actors])
    return actors


def _local_ray_node() -> bool:
    """Whether a Ray node (a raylet) already runs on this machine: what ray.init looks for."""
    from ray._private.services import find_node_ids

    return bool(find_node_ids())


def _ray_cli() -> list[str]:
    beside = Path(sys.executable).with_name("ray")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "ray.scripts.scripts"]


def _join(address: str) -> subprocess.Popen[bytes]:
    """Start a Ray node on this machine that joins `address`, as our child (see _joined)."""
    return subprocess.Popen([*_ray_cli(), "start", f"--address={address}", "--block"])


def _joined(node: subprocess.Popen[bytes], address: str, timeout: float = 120.0) -> None:
    """Wait until the node started by _join is up."""
    deadline = time.monotonic() + timeout
    while not _local_ray_node():
        if node.poll() is not None:
            raise SystemExit(f"could not join the Ray cluster at {address} (ray start exited with {node.returncode})")
        if time.monotonic() > deadline:
            raise SystemExit(f"could not join the Ray cluster at {address} within {timeout:.0f} s")
        time.sleep(0.5)


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # unwinds through serve's cleanup, wherever the main thread is


def serve(settings: Any, *, address: str | None = None, count: int | None = None, name: str | None = None,
          join: bool | None = None) -> int:
    """`yo worker`: host model actors here until stopped (SIGTERM or Ctrl-C: exit 0)."""
    address = address or settings.yo_ray_address
    if not address:
        raise SystemExit("set YO_RAY_ADDRESS (or --address) to the Ray head, e.g. bot-host:6379; "
                         "start the head on the bot host with `ray start --head`")
    signal.signal(signal.SIGTERM, _stop)
    use_token_if_available()  # before `ray start`, which inherits it
    node: subprocess.Popen[bytes] | None = None
    actors: list[Any] = []
    try:
        if join if join is not None else not _local_ray_node():
            node = _join(address)
            _joined(node, address)
        connect_driver(address, NAMESPACE)
        signal.signal(signal.SIGTERM, _stop)  # ray.init put its own in place
        print(f"yo worker: loading {settings.yo_model}…", flush=True)
        actors = host_workers(settings.yo_model, count=count, device=settings.yo_device or None,
                              load_in_4bit=settings.yo_load_in_4bit, name=name)
        print(f"yo worker: {len(actors)} model worker(s) ready on {socket.gethostname()}, "
              f"serving the bot through {address}", flush=True)
        while node is None or node.poll() is None:
            time.sleep(2.0)
        print("yo worker: the local Ray node stopped", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for actor in actors:
            try:
                ray.kill(actor)
            except Exception:  # the cluster may be gone already
                pass
        if ray.is_initialized():
            ray.shutdown()
        if node is not None and node.poll() is None:
            node.terminate()
            try:
                node.wait(30)
            except subprocess.TimeoutExpired:
                node.kill()
