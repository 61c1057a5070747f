"""How a training run is paced and the step loop itself.

`plan_schedule` picks how much each step supervises and whether to stop on a validation
slice; `run_schedule` runs the steps (hide some memberships, propagate once, supervise
the hidden ones) and returns the steps taken and the serving weights chosen (blend.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import torch

from recommender.training import distributed
from recommender.training.blend import (
    BLEND_LISTS,
    BLEND_SLICE_SEED,
    MIN_BLEND_PLAYLISTS,
    REJOIN_STEPS,
    Blend,
    BlendChoices,
    choose_model_blend,
)
from recommender.training.progress import EpochProgress
from recommender.training.validation import model_recall, should_stop, validation_slice

log = logging.getLogger(__name__)

# -- the epoch schedule: how much each step supervises, how many steps, when to stop -----
# "fixed" (the default) trains as it always has: 80 steps of 4 x 1,024 hidden memberships.
# "scaled" (and "auto" from `SCHEDULE_MIN_MEMBERSHIPS` memberships) supervises a share of
# the memberships per step and stops on a validation slice. It is not the default: on the
# 326k-membership synthetic catalog (benchmarks/bench_scale.py, same run) it trained in
# 311 s vs 221 s with continuation Recall@10 0.103 vs 0.116; the validation recall
# plateaus at ~0.10 after 30 steps, so more supervision alone does not lift quality.
SCHEDULE_MIN_MEMBERSHIPS = 100_000
SUPERVISED_SHARE = 0.05  # of all memberships, supervised per step on big catalogs
EVALUATE_EVERY = 5  # steps


@dataclass(frozen=True)
class Schedule:
    """How a training run is paced; `plan_schedule` picks it from the catalog's size."""

    steps: int  # at most this many optimizer steps ("epochs")
    chunks_per_step: int  # loss batches of `batch_size` supervised per step
    validate: bool  # hold out a validation slice and stop early on it


def plan_schedule(
    num_edges: int, *, epochs: int | None, batch_size: int, batches: int, schedule: str = "auto"
) -> Schedule:
    """ "auto": "fixed" below `SCHEDULE_MIN_MEMBERSHIPS` memberships, "scaled" from there."""
    if schedule not in ("auto", "fixed", "scaled"):
        raise ValueError(f"unknown schedule {schedule!r}; choose auto, fixed or scaled")
    if schedule == "fixed" or (schedule == "auto" and num_edges < SCHEDULE_MIN_MEMBERSHIPS):
        return Schedule(
            steps=80 if epochs is None else epochs, chunks_per_step=batches, validate=False
        )
    wanted = int(SUPERVISED_SHARE * num_edges)
    return Schedule(
        steps=80 if epochs is None else epochs,
        chunks_per_step=max(batches, -(-wanted // batch_size)),
        validate=True,
    )


def accumulated_step(
    z: torch.Tensor, chunk_losses: Iterator[Callable[[torch.Tensor], torch.Tensor]]
) -> float:
    """Backpropagate many loss batches through one propagation, one batch at a time.

    Each batch's graph is freed as soon as its gradient w.r.t. the node embeddings is
    added up, so memory stays that of one batch however many a step supervises; the
    propagation is then backpropagated once with the summed gradient.
    """
    leaf = z.detach().requires_grad_()
    total = 0.0
    for loss_of in chunk_losses:
        loss = loss_of(leaf)
        loss.backward()
        total += float(loss.detach())
    z.backward(leaf.grad)
    return total


def _scaled_loss(
    batch_loss: Callable[..., torch.Tensor], scale: float, *args: torch.Tensor
) -> torch.Tensor:
    """`batch_loss(leaf, *args) * scale`, with `leaf` passed last by `accumulated_step`."""
    *batch, leaf = args
    return batch_loss(leaf, *batch) * scale


def run_schedule(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    graph: Any,
    schedule: Schedule,
    batch_loss: Callable[..., torch.Tensor],
    vectors: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    hide_fraction: float,
    batch_size: int,
    generator: torch.Generator,
    progress: bool | None,
    popularity: torch.Tensor | None = None,
    choices: BlendChoices | None = None,
) -> tuple[int, Blend]:
    """The epoch loop: each step hides `hide_fraction` of the training memberships from
    the graph, propagates once and supervises `schedule.chunks_per_step` loss batches of
    hidden ones; with `schedule.validate`, stops when the validation slice stops
    improving and keeps the best weights. Given each track's `popularity`, the
    popularity `prior`'s weight and the playlist walk's are chosen on the slice
    (`choose_blend`): after the run when it validates, else before the last steps,
    which the slice then rejoins. Returns the steps taken and the serving weights."""
    tracks, playlists = graph.membership
    num_edges = tracks.numel()
    trainable = torch.arange(num_edges)
    validation = None
    rejoin = None
    choosing = popularity is not None and choices is not None and choices.open
    if schedule.validate:
        validation = validation_slice(tracks, playlists, generator)
    elif choosing and schedule.steps >= 4:
        # The fixed schedule learns from every membership: its slice (`BLEND_LISTS`
        # lists where there are that many) is held out until the serving weights are
        # chosen on it, then rejoins for the last `REJOIN_STEPS` (a quarter of a short
        # run). A catalog with too few lists to tell keeps them all.
        validation = validation_slice(
            tracks, playlists, torch.Generator().manual_seed(BLEND_SLICE_SEED), BLEND_LISTS
        )
        rejoin = schedule.steps - min(REJOIN_STEPS, schedule.steps // 4) + 1
        if len(validation.seeds) < MIN_BLEND_PLAYLISTS:
            validation, rejoin = None, None
    if validation is not None:
        held = torch.zeros(num_edges, dtype=torch.bool)
        held[validation.edges] = True
        trainable = torch.nonzero(~held).flatten()
    blend = choices.default if choices is not None else Blend(0.0)
    num_hidden = max(1, int(hide_fraction * len(trainable)))
    wanted = schedule.chunks_per_step * batch_size
    bar = EpochProgress(schedule.steps, "hetero-lightgcn", progress)
    steps = 0
    for epoch in bar:
        steps = epoch
        if epoch == rejoin and validation is not None and choosing:
            assert popularity is not None and choices is not None  # `choosing` says so
            blend = choose_model_blend(
                model, graph, trainable, vectors, validation, popularity, choices
            )
            trainable = torch.arange(num_edges)
            num_hidden = max(1, int(hide_fraction * num_edges))
        model.train()
        order = trainable[torch.randperm(len(trainable), generator=generator)]
        hidden, keep = order[:num_hidden], order[num_hidden:]
        z = model(graph.track_x, graph.adjacency(keep))
        visible_tracks, visible_playlists = tracks[keep], playlists[keep]
        chunks = hidden[:wanted].split(batch_size)
        # With several workers each supervises its share of the step's batches; the
        # losses stay divided by the step's total, so the summed gradients are the step's.
        total, chunks = len(chunks), distributed.shard(chunks)
        optimizer.zero_grad()
        if not chunks:  # more workers than batches this step: this one adds nothing
            value = 0.0
        elif total <= 4 and not schedule.validate:
            # The small-catalog step, exactly as before: one backward over all batches.
            loss = cast(
                torch.Tensor,
                sum(
                    batch_loss(z, tracks[c], playlists[c], visible_tracks, visible_playlists)
                    for c in chunks
                )
                / total,
            )
            loss.backward()
            value = loss.item()
        else:
            value = accumulated_step(
                z,
                (
                    partial(
                        _scaled_loss,
                        batch_loss,
                        1.0 / total,
                        tracks[c],
                        playlists[c],
                        visible_tracks,
                        visible_playlists,
                    )
                    for c in chunks
                ),
            )
        value = distributed.sum_gradients(model, value)
        optimizer.step()
        bar.report(epoch, value)
        if schedule.validate and (epoch % EVALUATE_EVERY == 0 or epoch == schedule.steps):
            assert validation is not None  # a validating schedule always holds a slice
            recall = distributed.from_main(
                partial(model_recall, model, graph, trainable, vectors, validation)
            )
            log.info("hetero-lightgcn step %d validation recall@10 %.4f", epoch, recall)
            if should_stop(model, validation, recall):
                break
    bar.close()
    if validation is not None and validation.best_state is not None:
        model.load_state_dict(validation.best_state)
    if schedule.validate and choosing:
        assert validation is not None and popularity is not None and choices is not None
        blend = choose_model_blend(
            model, graph, trainable, vectors, validation, popularity, choices
        )
    return steps, blend
