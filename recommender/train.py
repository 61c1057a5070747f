"""Train a model on a catalog CSV and save it: alone, or as one of several workers.

    python -m recommender.train --data spotify_songs.csv --out models/big
    torchrun --nproc-per-node 2 -m recommender.train --data spotify_songs.csv --out models/big

Under torchrun every worker trains in lock-step (`recommender.training.distributed`) and ends with
the same model; only the first worker (rank 0) saves it and prints where. Across machines,
the same command with `--nnodes N --rdzv-backend c10d --rdzv-endpoint HOST:PORT` on each.
`musicbot train --workers N` starts this for you.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# First, before torch loads: it chooses how training threads wait (see its top).
import recommender.training  # noqa: F401, I001
from recommender.data import DataError, load_catalog
from recommender.evaluation import parse_params
from recommender.recommender import DEFAULT_MODEL, Recommender


def torchrun_command(workers: int, *worker_args: str) -> list[str]:
    """The command that trains with `workers` lock-step processes on this machine:
    torchrun, standalone (a rendezvous on a free local port), each running this module."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(workers),
        "-m",
        "recommender.train",
        *worker_args,
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m recommender.train",
        description="Train a model on a catalog CSV and save it (run it under torchrun "
        "to train with several workers).",
    )
    parser.add_argument("--data", required=True, type=Path, help="catalog CSV")
    parser.add_argument("--out", required=True, type=Path, help="model directory to write")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="trainer name")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="override the trainer's epochs")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads per worker (default: its share of the cores it may use)",
    )
    parser.add_argument("--device", default="auto", help="auto (a GPU if any), cpu or cuda")
    parser.add_argument(
        "--version", default=None, help="version name recorded in the model (default: a time)"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another trainer option, e.g. schedule=scaled",
    )
    return parser


def train(args: argparse.Namespace) -> Recommender:
    """This worker's share of the run; every worker returns the same model."""
    from recommender.training import distributed

    options: dict[str, Any] = {**parse_params(args.param), "device": args.device}
    if args.epochs is not None:
        options["epochs"] = args.epochs
    if args.threads is not None:
        options["threads"] = args.threads
    # Read the catalog before joining the others: broken data fails here, on every worker.
    catalog = load_catalog(args.data)
    distributed.start(args.device)
    model = Recommender.train(
        catalog,
        model=args.model,
        seed=args.seed,
        progress=None if distributed.is_main() else False,
        **options,
    )
    if not distributed.same_everywhere(model.embeddings):
        raise RuntimeError("the training workers ended with different models")
    if args.version is not None:
        model.metadata["version"] = args.version
    return model


def main(argv: Sequence[str] | None = None) -> int:
    from recommender.training import distributed

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if distributed.rank_from_environment() == 0 else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        model = train(args)
        if distributed.is_main():
            model.save(args.out)
            print(
                json.dumps(
                    {
                        "out": str(args.out),
                        "host": socket.gethostname(),
                        "version": model.version,
                        "workers": distributed.world_size(),
                        "train_seconds": round(model.metadata.get("train_seconds", 0.0), 2),
                        "counts": model.metadata.get("counts", {}),
                    }
                ),
                flush=True,
            )
    except (DataError, ValueError) as error:  # DeviceError is a ValueError
        # Workers on one machine fail alike (same data, same devices): one says why.
        if os.environ.get("LOCAL_RANK", "0") == "0":
            print(f"training failed: {error}", file=sys.stderr)
        return 1
    finally:
        distributed.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
