"""Can the configured model be loaded here? Said plainly, before anything tries to."""

from __future__ import annotations

import json
import os
import socket
from urllib.parse import urlparse
from pathlib import Path

SMOKE_HINT = ("To try the whole flow anyway, run `yo run --smoke`: it uses a tiny random model "
              "whose answers mean nothing.")


def _config_path(model_id: str) -> Path | None:
    local = Path(model_id).expanduser()
    if local.is_dir():
        return local / "config.json" if (local / "config.json").exists() else None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(model_id, "config.json")
    except ValueError:  # not a valid Hub id either
        return None
    return Path(found) if isinstance(found, str) else None


def _looks_like_a_path(model_id: str) -> bool:
    return model_id.startswith(("/", ".", "~")) or model_id.count("/") > 1


def _hub_reachable(timeout: float = 3.0) -> bool:
    """One connection attempt to the Hub's host: enough to tell "offline" from "slow"."""
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _parameters(config: dict) -> float:
    """A rough parameter count from a config: enough to say whether it fits."""
    text = config.get("text_config", config)
    hidden = text.get("hidden_size", 4096)
    layers = text.get("num_hidden_layers", 32)
    vocab = text.get("vocab_size", 32000)
    intermediate = text.get("intermediate_size", 4 * hidden)
    return layers * (4 * hidden * hidden + 3 * hidden * intermediate) + 2 * vocab * hidden + 0.4e9 * ("vision_config" in config)


def problems(model_id: str, device: str = "") -> tuple[list[str], list[str]]:
    """(errors, warnings): what stops this machine serving `model_id`, and what makes it slow."""
    found: list[str] = []
    warnings: list[str] = []
    config_file = _config_path(model_id)
    if config_file is None:
        if Path(model_id).expanduser().exists():
            found.append(f"{model_id} is a folder but has no config.json: point YO_MODEL at a saved checkpoint.")
        elif _looks_like_a_path(model_id):
            found.append(f"YO_MODEL={model_id} is no folder on this machine: point it at a saved checkpoint "
                         "or a Hugging Face model id.")
        elif os.environ.get("HF_HUB_OFFLINE") == "1" or not _hub_reachable():
            why = "HF_HUB_OFFLINE=1 forbids fetching it" if os.environ.get("HF_HUB_OFFLINE") == "1" \
                else "the Hugging Face Hub can't be reached from here (no network?)"
            found.append(f"The model {model_id} isn't downloaded and {why}. "
                         f"Download it on a connected machine (`hf download {model_id}`), copy the folder here "
                         "and set YO_MODEL to it.")
        return found, warnings
    config = json.loads(config_file.read_text())
    billions = _parameters(config) / 1e9
    import torch

    want_gpu = device.startswith("cuda") or (not device and torch.cuda.is_available())
    if device.startswith("cuda") and not torch.cuda.is_available():
        found.append(f"YO_DEVICE={device} but PyTorch sees no GPU here. Unset YO_DEVICE to use the CPU.")
    elif want_gpu:
        free, _ = torch.cuda.mem_get_info()
        need = billions * 2 * 1.2e9  # bf16 weights plus headroom for activations
        if free < need:
            found.append(f"{model_id} needs about {need / 2**30:.0f} GiB of GPU memory in bf16; "
                         f"the GPU has {free / 2**30:.0f} GiB free. Set YO_LOAD_IN_4BIT=true (needs bitsandbytes) "
                         "or pick a smaller YO_MODEL.")
    elif billions > 1.5:
        warnings.append(f"{model_id} has about {billions:.0f}B parameters; on a CPU it needs about "
                     f"{billions * 4:.0f} GB of memory and answers take minutes. A GPU is strongly advised.")
    return found, warnings
