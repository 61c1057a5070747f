"""How fast slash-command suggestions answer, through discord.py's real CommandTree; prints
figures. Discord drops an autocomplete answer that takes longer than 3 s, and members
notice well before that; the goal is under 100 ms.

Usage: .venv/bin/python benchmarks/bench_autocomplete.py [--model DIR] [--data CSV] [--repeats N]

The model is DIR, else MODEL_DIR's current one, else one trained on DATA (about 20 s).
For each typed text it feeds Discord's AUTOCOMPLETE interaction (type 4, the option
`focused`) to `CommandTree._call`, as the gateway would, and times it until the answer
(the callback with the choices) is handed to the HTTP layer, which here keeps it. Prints
the median and the slowest of --repeats runs and the number of choices (at most 25).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import discord  # noqa: E402
from discord.webhook.async_ import AsyncWebhookAdapter, async_context  # noqa: E402

from bot.core.serving import ModelHolder, load_current_model  # noqa: E402
from bot.core.settings import Settings  # noqa: E402
from bot.frontends.discord_app import MusicBot  # noqa: E402
from bot.frontends.slash import install_app_commands  # noqa: E402
from recommender import Recommender  # noqa: E402

CASES: tuple[tuple[str, list[dict[str, Any]]], ...] = (
    tuple(
        (name, options)
        for name, options in (
            ("recommend", [{"name": "song", "type": 3, "value": text, "focused": True}])
            for text in ("", "b", "bad gu", "shape of yo", "love", "the", "metalli", "zxqv")
        )
    )
    + tuple(
        ("recommend", [{"name": "artist", "type": 3, "value": text, "focused": True}])
        for text in ("", "d", "dua l", "the wee", "zxqv")
    )
    + (
        ("refine", [{"name": "text", "type": 3, "value": "", "focused": True}]),
        ("refine", [{"name": "text", "type": 3, "value": "chill, no re", "focused": True}]),
        (
            "session",
            [
                {
                    "name": "add",
                    "type": 1,
                    "options": [{"name": "song", "type": 3, "value": "bad gu", "focused": True}],
                }
            ],
        ),
    )
)


class Kept(AsyncWebhookAdapter):
    """Discord's end of the callback: keeps the answer instead of sending it."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[dict[str, Any]] = []
        self.done = asyncio.Event()

    def create_interaction_response(
        self, interaction_id: int, token: str, *, params: Any, **_: Any
    ):  # type: ignore[override]
        self.answers.append(params.payload.get("data") or {})
        self.done.set()

        async def sent() -> dict[str, Any]:
            return {"interaction": {"id": str(interaction_id), "type": 4}}

        return sent()


def _model(args: argparse.Namespace, settings: Settings) -> Recommender:
    if args.model:
        return Recommender.load(args.model)
    try:
        return load_current_model(settings)
    except Exception:
        print("no saved model: training one on", args.data or settings.data_path, file=sys.stderr)
        return Recommender.train(args.data or settings.data_path, progress=False)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    settings = Settings(_env_file=None, data_dir=Path(tempfile.mkdtemp()), listening=True)
    models = ModelHolder()
    models.swap(_model(args, settings))
    from bot.core.compute import single_threaded_blas
    from bot.core.dispatch import Services

    single_threaded_blas()
    bot = MusicBot(settings, Services(settings, models=models))
    await bot._async_setup_hook()
    install_app_commands(bot)
    bot._connection.application_id = 1
    kept = Kept()
    async_context.set(kept)
    user = {"id": "2", "username": "bench", "discriminator": "0", "global_name": None}

    async def suggest(name: str, options: list[dict[str, Any]]) -> tuple[float, int]:
        payload = {
            "id": "3",
            "application_id": "1",
            "type": 4,
            "token": "t",
            "version": 1,
            "channel_id": "4",
            "user": user,
            "data": {"id": "5", "name": name, "type": 1, "options": options},
            "locale": "en-US",
            "attachment_size_limit": 8 * 1024 * 1024,
            "app_permissions": "0",
            "entitlements": [],
            "authorizing_integration_owners": {},
            "context": 1,
        }
        kept.done.clear()
        start = time.perf_counter()
        interaction = discord.Interaction(data=payload, state=bot._connection)  # type: ignore[arg-type]
        await bot.tree._call(interaction)
        await kept.done.wait()
        return (time.perf_counter() - start) * 1000, len(kept.answers[-1].get("choices", []))

    print(f"{'command':10} {'typed':16} {'choices':>7} {'median ms':>10} {'max ms':>8}")
    for name, options in CASES:
        await suggest(name, options)  # first call builds per-model lookups
        times, count = [], 0
        for _ in range(args.repeats):
            elapsed, count = await suggest(name, options)
            times.append(elapsed)
        focused = options[0].get("options", options)[0]["value"]
        print(
            f"{name:10} {focused!r:16} {count:>7} {statistics.median(times):>10.2f} "
            f"{max(times):>8.2f}"
        )
    await bot.http.close()


if __name__ == "__main__":
    asyncio.run(main())
