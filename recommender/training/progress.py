"""How a run shows its progress: a bar with the loss on a terminal, log lines otherwise."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

from tqdm import tqdm

log = logging.getLogger(__name__)


class EpochProgress:
    """A progress bar with the loss on a terminal; plain log lines otherwise."""

    def __init__(self, epochs: int, label: str, progress: bool | None) -> None:
        # Every trainer's loop runs through here: fewer than one step would save (and a
        # retrain publish) the untrained model, so no caller can ask for it.
        if epochs < 1:
            raise ValueError(f"epochs {epochs}: training needs 1 or more steps")
        self.epochs = epochs
        self.label = label
        interactive = sys.stderr.isatty() if progress is None else progress
        self.bar = (
            tqdm(total=epochs, desc=label, unit="epoch", leave=False) if interactive else None
        )
        self.every = max(1, epochs // 10)

    def __iter__(self) -> Iterator[int]:
        yield from range(1, self.epochs + 1)

    def report(self, epoch: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}")
        elif epoch % self.every == 0 or epoch == self.epochs:
            log.info("%s epoch %d/%d loss %.4f", self.label, epoch, self.epochs, loss)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
