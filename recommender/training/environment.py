"""What every training run sets up first: its thread count, its seeds, and a catalog it
can learn from."""

from __future__ import annotations

import random

import numpy as np
import torch

from recommender.data import Catalog, DataError
from recommender.machine import usable_cores
from recommender.training import distributed


def configure_threads(threads: int | None = None) -> int:
    """Set how many threads training computes with; returns the count in use.

    `None` uses one thread per core this process may run on. A number is a ceiling
    (never more than the usable cores, at least 1): fewer threads leave cores to the bot
    and to other work on a shared machine. With several workers on this machine (torchrun
    --nproc-per-node), each gets its share of the cores instead of all of them.
    """
    cores = distributed.cores_share(usable_cores())
    count = cores if threads is None else max(1, min(int(threads), cores))
    torch.set_num_threads(count)
    return count


def seed_everything(seed: int) -> None:
    """Same seed, same model: seeded RNGs and deterministic kernels.

    Without deterministic kernels, parallel scatter-adds sum in varying order and two runs
    differ in the last bits, which is enough to reorder near-tied recommendations.
    """
    torch.use_deterministic_algorithms(True, warn_only=True)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def require_memberships(catalog: Catalog) -> None:
    if len(catalog.memberships) == 0:
        raise DataError(
            "the catalog has no playlist memberships, so there is nothing to learn from"
        )
