"""Scale-out: model workers as Ray actors on GPU machines, the bot host keeping the store.

    bot host:        ray start --head;  YO_RAY_ADDRESS=127.0.0.1:6379 yo run
    each GPU box:    YO_RAY_ADDRESS=bot-host:6379 yo worker

- actor.py   `ModelActor`: the engine loaded once, served by the same `worker.Worker` loop as
             the local child process (micro-batching, questions at the training's pauses, cancel).
- host.py    `yo worker`: joins the cluster, starts one named actor per local GPU (or one on
             the CPU) in the "yo" namespace, stops them on exit.
- service.py `RayModelService`: the bot side's `ModelService`, chosen when YO_RAY_ADDRESS is
             set; finds the actors by name, sends each question to the least-busy one and each
             training job to a free one, relays progress and cancel; a lost actor's call
             raises `ModelUnavailable`, so the training queue runs the job again elsewhere.

Ray is imported only here: without YO_RAY_ADDRESS nothing of this loads.
"""

from .actor import NAME_PREFIX, NAMESPACE, ModelActor
from .host import host_workers
from .service import RayModelService

__all__ = ["NAMESPACE", "NAME_PREFIX", "ModelActor", "RayModelService", "host_workers"]
