"""Training: everything that turns a Catalog into one embedding row per track, and the
only part of the project that imports torch (with `baselines.py`'s LightGCN baseline).

Where things live:

- `config.py`: each model's hyperparameters, one documented frozen dataclass per model;
  the `params` a saved model records come from it.
- `hetero_lightgcn.py`, `seed_gcn.py`: the trainers; `loss.py`: the default model's
  objective (`MembershipLoss`); `sampling.py`: what the objective samples.
- `schedule.py`: how a run is paced (`plan_schedule`) and the step loop (`run_schedule`);
  `validation.py`: the slice a run holds out and its recall; `blend.py`: the serving
  weights (popularity prior, playlist walk) chosen on that slice.
- `models.py`, `graph.py`: the `nn.Module`s and the PyG graphs; `distributed.py`: several
  workers in lock-step; `environment.py`: threads and seeding; `progress.py`: the bar.

A trainer is `fn(catalog, *, seed, progress, **options) -> (embeddings, params)`; the
registry `TRAINERS` is how `Recommender.train(model=...)` and the evaluation find them.
"""

from __future__ import annotations

from recommender.machine import prefer_sleeping_threads

# Before torch loads: every module of this package imports torch after this line runs.
prefer_sleeping_threads()

from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from recommender.training.hetero_lightgcn import train_hetero_lightgcn  # noqa: E402
from recommender.training.seed_gcn import train_seed_gcn  # noqa: E402

Trainer = Callable[..., tuple[np.ndarray, dict[str, Any]]]

TRAINERS: dict[str, Trainer] = {
    "seed-gcn": train_seed_gcn,
    "hetero-lightgcn": train_hetero_lightgcn,
}

__all__ = ["TRAINERS", "Trainer", "train_hetero_lightgcn", "train_seed_gcn"]
