"""Training on several processes (one machine or many) that stay in lock-step.

Every worker holds the whole graph and the same weights, propagates it, and supervises
only its own share of the step's hidden memberships (`shard`). The gradients are then
summed across workers (`sum_gradients`) before every optimizer step, so each worker
takes the same step from the same weights and ends with the same model; the first
worker (rank 0) is the one that saves and reports. Alone (no process group), every
function here is a no-op and training is exactly the single-process run.

Workers are started by `torchrun`, which sets RANK, WORLD_SIZE, MASTER_ADDR, … in their
environment (`start` reads it): gloo on CPUs, NCCL between GPUs.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist

T = TypeVar("T")

DEVICES = ("auto", "cpu", "cuda")
# A worker waits this long for the others (at start and at each step) before giving up,
# so a worker that died makes the rest fail instead of hanging forever.
TIMEOUT = timedelta(minutes=10)


class DeviceError(ValueError):
    """A device that cannot be used here (cuda asked for on a machine without a GPU)."""


def resolve_device(device: str = "auto") -> torch.device:
    """`auto`: the GPU when there is one, else the CPU. `cuda` without one is an error."""
    if device not in DEVICES:
        raise DeviceError(f"unknown device {device!r}; choose {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceError("device cuda was asked for, but this machine has no usable GPU")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        # Several workers on one machine each take their own GPU.
        index = int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count()
        return torch.device("cuda", index)
    return torch.device("cpu")


def gpu_count(device: str = "auto") -> int:
    """How many GPUs training on `device` would use (0: it trains on the CPU)."""
    if device == "cpu" or not torch.cuda.is_available():
        return 0
    return torch.cuda.device_count()


def launched() -> bool:
    """Whether this process was started as one of several workers (by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def rank_from_environment() -> int:
    """This worker's rank as torchrun gave it, before `start` (0 when alone)."""
    return int(os.environ.get("RANK", "0"))


def start(device: str = "auto") -> None:
    """Join the other workers if torchrun started several; alone, do nothing."""
    if not launched() or dist.is_initialized():
        return
    chosen = resolve_device(device)
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo", timeout=TIMEOUT)


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def active() -> bool:
    return dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    """The worker that saves, evaluates and reports (every worker when alone)."""
    return rank() == 0


def local_workers() -> int:
    """How many workers share this machine (torchrun's --nproc-per-node)."""
    return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def cores_share(cores: int) -> int:
    """This worker's share of `cores` when several workers run on this machine."""
    return max(1, cores // local_workers())


def shard(items: Sequence[T]) -> list[T]:
    """This worker's share of a step's loss batches: every `world_size()`-th from its rank."""
    return list(items[rank() :: world_size()])


def sampling_generator(shared: torch.Generator, seed: int) -> torch.Generator:
    """The generator for this worker's negatives: its own stream when there are several,
    so workers do not draw the same negatives; `shared` itself when alone (the run is then
    exactly the single-process one). What all workers must agree on (which memberships a
    step hides) keeps coming from `shared`, seeded identically everywhere."""
    if not active():
        return shared
    own = torch.Generator(device=shared.device)
    return own.manual_seed(seed * 1_000_003 + rank() + 1)


def same_start(model: torch.nn.Module) -> None:
    """Give every worker rank 0's initial weights (they agree already when seeded alike;
    this makes it so whatever the seeding)."""
    if not active():
        return
    for tensor in model.state_dict().values():
        dist.broadcast(tensor, src=0)


def sum_gradients(model: torch.nn.Module, loss: float) -> float:
    """Sum every worker's gradients (and loss) in one all-reduce; returns the step's loss.

    Each worker's loss is already divided by the step's total batch count, so the sum is
    the gradient of the whole step. A worker with no batch this step adds zeros.
    """
    if not active():
        return loss
    params = [p for p in model.parameters() if p.requires_grad]
    device = params[0].device
    grads = [
        p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel(), device=device)
        for p in params
    ]
    flat = torch.cat([*grads, torch.tensor([loss], dtype=grads[0].dtype, device=device)])
    dist.all_reduce(flat)
    offset = 0
    for p in params:
        piece = flat[offset : offset + p.numel()].view_as(p)
        if p.grad is None:
            p.grad = piece.clone()
        else:
            p.grad.copy_(piece)
        offset += p.numel()
    return float(flat[-1])


def same_everywhere(values: torch.Tensor | np.ndarray) -> bool:
    """Whether every worker holds exactly rank 0's `values` (the trained embeddings): the
    proof that the workers stayed in lock-step, so the model rank 0 saves is everyone's."""
    if not active():
        return True
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    mine = torch.as_tensor(values).to(device)
    theirs = mine.clone()
    dist.broadcast(theirs, src=0)
    agree = torch.tensor([int(torch.equal(mine, theirs))], device=device)
    dist.all_reduce(agree, op=dist.ReduceOp.MIN)
    return bool(agree.item())


def from_main(compute: Callable[[], float]) -> float:
    """A figure computed by rank 0 only (a validation score), given to every worker so
    they all take the same decision (stop, keep these weights)."""
    return figures_from_main(lambda: (compute(),), 1)[0]


def figures_from_main(compute: Callable[[], Sequence[float]], count: int) -> tuple[float, ...]:
    """`count` figures computed by rank 0 only (the serving weights chosen on validation),
    the same on every worker."""
    if not active():
        return tuple(float(v) for v in compute())
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    mine = list(compute()) if is_main() else [0.0] * count
    values = torch.tensor(mine, dtype=torch.float64, device=device)
    dist.broadcast(values, src=0)
    return tuple(float(v) for v in values.tolist())


def on_device(trainer: Callable[..., T]) -> Callable[..., T]:
    """Run a trainer on the device its `device` option names (`auto`, `cpu`, `cuda`).

    The trainer gets the resolved device (e.g. "cuda:0") as `device`; on a GPU, tensors
    it makes without naming a device are made there too. On the CPU nothing changes.
    """

    @functools.wraps(trainer)
    def run(*args: Any, device: str = "auto", **options: Any) -> T:
        chosen = resolve_device(device)
        place = contextlib.nullcontext() if chosen.type == "cpu" else chosen
        with place:
            return trainer(*args, device=str(chosen), **options)

    return run
