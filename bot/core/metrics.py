"""What a running bot counts, and the opt-in HTTP port that shows it.

With METRICS_PORT set, `musicbot run` answers `GET /health` (200 when the model serves and
the database answers, 503 with the reason otherwise: what a supervisor, a load balancer
or an uptime check asks) and `GET /metrics` in Prometheus' text format: answers by command
and outcome, how long they took, failures, song lookups, retrain runs and the serving
model's version. Off by default; it listens on METRICS_HOST (this machine) only.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from bot.core.replies import Kind, Reply

log = logging.getLogger(__name__)

# Replies to these commands are a song looked up in the catalog: found (an answer) or not.
LOOKUP_COMMANDS = frozenset({"recommend"})
HEALTH_DB_TIMEOUT_SECONDS = 3.0


class Metrics:
    """The counters of one bot process (its own registry, so tests' bots never mix)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.answers = Counter(
            "musicbot_answers",
            "Commands answered, by command and outcome (ok, info = a refusal or hint, error)",
            ["command", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "musicbot_answer_seconds",
            "Time from a command arriving to its answer being ready",
            ["command"],
            buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.failures = Counter(
            "musicbot_failures",
            "Commands that failed on the bot's side (logged with a reference)",
            ["command"],
            registry=self.registry,
        )
        self.lookups = Counter(
            "musicbot_song_lookups",
            "Songs asked for, by whether the catalog had them",
            ["found"],
            registry=self.registry,
        )
        self.model = Gauge(
            "musicbot_model_info",
            "The model serving now (1 for its version)",
            ["version"],
            registry=self.registry,
        )
        self.tracks = Gauge(
            "musicbot_model_tracks", "Songs in the serving model", registry=self.registry
        )
        self.retrains = Gauge(
            "musicbot_retrain_runs",
            "Training runs recorded in the database, by status",
            ["status"],
            registry=self.registry,
        )

    def answered(self, command: str, reply: Reply, seconds: float, failed: bool) -> None:
        self.answers.labels(command, reply.kind.value).inc()
        self.latency.labels(command).observe(seconds)
        if failed:
            self.failures.labels(command).inc()
        if command in LOOKUP_COMMANDS:
            self.lookups.labels("yes" if reply.kind is Kind.OK else "no").inc()

    async def refresh(self, services: Any) -> None:
        """Read what is not counted as it happens: the model and the runs table."""
        self.model.clear()
        if services.models.ready:
            model = services.models.current
            self.model.labels(model.version).set(1)
            self.tracks.set(len(model))
        try:
            async with services.db.session() as session:
                # By the table's name: core knows no feature's classes.
                rows = await session.execute(
                    text("SELECT status, count(*) FROM training_runs GROUP BY status")
                )
                counts = dict(rows.all())
        except Exception:  # metrics must answer even while the database is away
            log.warning("metrics: could not count training runs", exc_info=True)
            return
        self.retrains.clear()
        for status, count in counts.items():
            self.retrains.labels(status).set(count)

    def text(self) -> bytes:
        return generate_latest(self.registry)


async def health(services: Any) -> tuple[bool, dict[str, str]]:
    """(healthy, what was checked): the model serves and the database answers."""
    checks: dict[str, str] = {}
    checks["model"] = services.models.current.version if services.models.ready else "loading"
    try:
        async with asyncio.timeout(HEALTH_DB_TIMEOUT_SECONDS):
            async with services.db.session() as session:
                await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:  # noqa: BLE001 - any failure is "unhealthy", said in words
        checks["database"] = f"unavailable ({type(error).__name__})"
    healthy = services.models.ready and checks["database"] == "ok"
    return healthy, {"status": "ok" if healthy else "unhealthy", **checks}


class MetricsUnavailable(Exception):
    """The health/metrics port cannot be opened (taken, or a bad METRICS_HOST)."""


class MetricsServer:
    """`GET /health` and `GET /metrics` for `services` on host:port (aiohttp)."""

    def __init__(self, services: Any, host: str, port: int) -> None:
        self.services = services
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as error:
            await self.stop()
            raise MetricsUnavailable(
                f"METRICS_PORT: cannot listen on {self.host}:{self.port} "
                f"({(error.strerror or str(error)).lower()}); pick a free port, or leave "
                "METRICS_PORT empty"
            ) from error
        if self.port == 0:  # tests ask for any free port
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("health and metrics on http://%s:%d/health and /metrics", self.host, self.port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _health(self, request: web.Request) -> web.Response:
        healthy, checks = await health(self.services)
        return web.Response(
            text=json.dumps(checks),
            status=200 if healthy else 503,
            content_type="application/json",
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        metrics = self.services.metrics
        await metrics.refresh(self.services)
        return web.Response(body=metrics.text(), headers={"Content-Type": CONTENT_TYPE_LATEST})
