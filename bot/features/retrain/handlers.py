"""`retrain`, `rollback` and `status`: handlers for every front end (Discord prefix, console).

`retrain` answers at once with the run number and posts the outcome through
`ctx.followup` (the same channel) when the run ends. The scheduler itself lives in the
retrain cog (cog.py), since only the Discord bot runs one.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from bot.core.db_outage import StorageUnavailable
from bot.core.dispatch import RequestContext, Services, command
from bot.core.replies import Field, Kind, Reply
from bot.core.text import clip
from bot.features.catalog.handlers import flush_additions
from bot.features.catalog.queries import addition_ids
from bot.features.retrain.retrainer import (
    AlreadyRunning,
    RetrainStatus,
    RollbackError,
    busy_text,
    retrainer_for,
)
from bot.features.retrain.schedule import OFF_WORDS
from bot.features.retrain.tables import ADMIN, INTERRUPTED, REFUSED, SUCCEEDED, TrainingRun

FORCE = "force"
KEPT_SHOWN = 8  # kept versions listed in !status
MOVES_SHOWN = 4  # the newest pointer moves listed in !status


def when(moment: datetime | None, now: datetime | None = None) -> str:
    """`2026-11-27 04:00 UTC (3 min ago)`; readable in a terminal and on Discord."""
    if moment is None:
        return "never"
    now = now or datetime.now(UTC)
    seconds = (now - moment).total_seconds()
    span = abs(seconds)
    if span < 60:
        rel = f"{int(span)} s"
    elif span < 3600:
        rel = f"{int(span // 60)} min"
    elif span < 2 * 86400:
        rel = f"{span / 3600:.1f} h"
    else:
        rel = f"{span / 86400:.1f} days"
    rel = f"{rel} ago" if seconds >= 0 else f"in {rel}"
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({rel})"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def who(run: TrainingRun) -> str:
    if run.trigger != ADMIN:
        return "the schedule"
    return f"<@{run.user_id}>" if run.user_id else "an admin (console)"


def outcome_reply(run: TrainingRun, serving: str, prefix: str = "!") -> Reply:
    """What the channel sees when a run ends."""
    metrics = run.metrics or {}
    took = duration(metrics.get("duration_seconds"))
    if run.status == SUCCEEDED:
        counts = metrics.get("counts", {})
        fields = [
            Field("Data", _counts(counts, metrics.get("sources", {})), inline=True),
            Field(
                "Training",
                f"{duration(metrics.get('train_seconds'))}"
                + (f", final loss {metrics['final_loss']:.4f}" if "final_loss" in metrics else ""),
                inline=True,
            ),
        ]
        return Reply(
            title=f"Retrain #{run.id} finished",
            description=f"Model **{run.model_version}** is live (took {took}); "
            f"it replaced {metrics.get('previous_version') or 'nothing'}."
            + (" Forced: the quality checks were skipped." if metrics.get("forced") else ""),
            fields=fields,
        )
    if run.status == REFUSED:
        return Reply.error(
            f"Retrain #{run.id} refused",
            f"The new model **{run.model_version}** was not published: "
            f"{clip(run.error or 'it did not pass the checks', 700)}.\n\n"
            f"Model **{serving}** is still serving (took {took}). The refused model is kept "
            "in MODEL_DIR for inspection; an admin can publish a retrain without this check "
            f"with `{prefix}retrain force`.",
        )
    if run.status == INTERRUPTED:
        return Reply.error(
            f"Retrain #{run.id} interrupted",
            f"{clip(run.error or 'the bot stopped', 300)}. Model **{serving}** is serving.",
        )
    return Reply.error(
        f"Retrain #{run.id} failed",
        f"{clip(short_reason(run.error), 200)}. Nothing changed: model **{serving}** is still "
        f"serving (took {took}). Admins see the details in `{prefix}status`, the log has all.",
    )


_PATH = re.compile(r"""(?:[A-Za-z]:)?[\\/][^\s:'",]+""")


def short_reason(error: str | None) -> str:
    """What a channel may see of a run's error: its first clause, without file paths or
    line details (those are for admins in `!status`, and the log)."""
    lines = (error or "").strip().splitlines()
    reason = lines[0].split(": ", 1)[0].strip() if lines else ""
    return _PATH.sub("…", reason) or "unknown error"


@command(
    "retrain",
    usage="[force]",
    summary="train a new model now from the latest data (admins); `force` publishes it "
    "even if it fails the quality checks",
    admin_only=True,
)
async def retrain(services: Services, ctx: RequestContext, text: str) -> Reply:
    prefix = services.settings.command_prefix
    option = text.strip().lower()
    if option not in ("", FORCE):
        return Reply.error(
            "Unknown option",
            f"`{prefix}retrain` trains and publishes the new model only if it passes the "
            f"checks; `{prefix}retrain force` skips the quality checks (never the sanity check).",
        )
    force = option == FORCE
    retrainer = retrainer_for(services)
    followup = ctx.followup

    async def notify(run: TrainingRun) -> None:
        if followup is not None:
            serving = services.models.current.version if services.models.ready else "none"
            await followup(outcome_reply(run, serving, prefix))

    try:
        run = await retrainer.start(ADMIN, user_id=ctx.user_id or None, notify=notify, force=force)
    except AlreadyRunning as busy:
        return Reply.info(
            "Already retraining",
            busy_text(busy, when(busy.since)) + " I won't start another one.",
        )
    assert run is not None
    serving = services.models.current.version if services.models.ready else "none"
    checked = "sanity-checked (forced: no quality checks)" if force else "checked"
    return Reply.info(
        "Retraining started",
        f"Retraining started, run #{run.id}. Recommendations keep using model **{serving}** "
        f"until the new one is ready and {checked}"
        + ("; I'll post the result here." if followup is not None else "."),
    )


@command(
    "rollback",
    usage="[version]",
    summary="serve a kept model version again (admins); default: the one before the current",
    examples=("20260105-040000-000000",),
    admin_only=True,
)
async def rollback(services: Services, ctx: RequestContext, text: str) -> Reply:
    retrainer = retrainer_for(services)
    version = text.strip() or None
    try:
        model, replaced = await retrainer.rollback(version, user_id=ctx.user_id or None)
    except AlreadyRunning as busy:
        return Reply.info(
            "Retraining now",
            busy_text(busy, when(busy.since)) + " Roll back after it ends.",
        )
    except RollbackError as error:
        kept = await asyncio.to_thread(_kept_versions, services)
        return Reply.error(
            "Can't roll back",
            f"{clip(str(error), 300)}.\nKept versions: {kept}",
        )
    return Reply(
        title="Rolled back",
        description=f"Model **{model.version}** is serving now (it replaced "
        f"{replaced or 'nothing'}). Other bot processes sharing its model folder switch "
        f"within {services.settings.model_poll_seconds:g} s.",
    )


@command("status", summary="the model, its data, the last and next retrain, uptime")
async def status(services: Services, ctx: RequestContext, text: str) -> Reply:
    # Everyone asking at the same moment gets the one answer being put together (it reads
    # the database and MODEL_DIR): a burst of !status costs about one, not one each.
    # Admins are shown more, so theirs is a separate answer.
    key = "retrain.status.admin" if ctx.is_admin else "retrain.status.member"
    task = services.extras.get(key)
    if task is None or task.done():
        task = services.extras[key] = asyncio.ensure_future(_status(services, ctx.is_admin))
    return await asyncio.shield(task)


async def _status(services: Services, is_admin: bool) -> Reply:
    retrainer = retrainer_for(services)
    try:
        info: RetrainStatus | None = await retrainer.status()
    except StorageUnavailable:  # the rest still shows, the outage first
        info = None
    now = datetime.now(UTC)
    fields: list[Field] = []
    if services.models.ready:
        model = services.models.current
        about = model.info
        fields.append(
            Field(
                "Model",
                f"**{about.version}** ({about.model or '?'}), trained "
                f"{when(about.created_at, now)} in {duration(about.train_seconds)}",
            )
        )
        fields.append(Field("Data", _counts(about.counts, {})))
        fields.append(Field("Scoring", model.scoring))
        try:
            await flush_additions(services)
            waiting: list[str] | None = [
                t for t in await addition_ids(services.db) if t not in model
            ]
        except StorageUnavailable:  # the rest still shows, the outage first
            waiting = None
        fields.append(
            Field(
                "Added songs",
                "unknown while storage is unavailable"
                if waiting is None
                else f"{len(waiting)} looked-up song{' waits' if len(waiting) == 1 else 's wait'} "
                "for the next retrain"
                if waiting
                else "none waiting for the next retrain",
            )
        )
    else:
        fields.append(Field("Model", "still loading"))
    if info is None:
        fields.append(Field("Retraining", "unknown while storage is unavailable"))
    elif info.running is not None:
        fields.append(
            Field(
                "Retraining now",
                f"run #{info.running.id} by {who(info.running)}, "
                f"since {when(info.running.started_at, now)}",
            )
        )
    last = info.last_finished if info is not None else None
    if info is None:
        pass
    elif last is None:
        fields.append(Field("Last retrain", "none yet"))
    else:
        ended = f"run #{last.id} by {who(last)} {last.status} {when(last.finished_at, now)}"
        if last.status == SUCCEEDED:
            ended += f" → {last.model_version}"
        elif last.status == REFUSED:
            ended += (
                f": model {last.model_version} kept, not served: {clip(last.error or '?', 300)}"
            )
        else:
            detail = (last.error or "?").splitlines()[0]
            if not is_admin:  # the reason only: details (file paths, …) are for admins
                detail = short_reason(last.error)
            ended += f": {clip(detail, 300)}"
        fields.append(Field("Last retrain", ended))
    rollback = info.last_rollback if info is not None else None
    if rollback is not None:
        by = f"<@{rollback.user_id}>" if rollback.user_id else "an admin (console)"
        replaced = (rollback.metrics or {}).get("previous_version") or "nothing"
        fields.append(
            Field(
                "Last rollback",
                f"to {rollback.model_version} (replacing {replaced}) by {by} "
                f"{when(rollback.finished_at, now)}",
            )
        )
    cron = services.settings.retrain_cron
    if cron.strip().lower() in OFF_WORDS:
        schedule = "off (RETRAIN_CRON=off)"
    elif info is None or not info.scheduled_here:
        schedule = f"`{cron}` UTC; not scheduled in this process"
    else:
        schedule = f"{when(info.next_run, now)} (`{cron}` UTC)"
    fields.append(Field("Kept versions", await asyncio.to_thread(_kept_versions, services)))
    moves = await asyncio.to_thread(retrainer.store.history, MOVES_SHOWN)
    if moves:
        fields.append(
            Field(
                "Serving history",
                "\n".join(
                    f"{when(move.at, now)}: **{move.version}** ({move.why}), "
                    f"replacing {move.previous or 'nothing'}"
                    for move in reversed(moves)
                ),
            )
        )
    fields.append(Field("Next scheduled retrain", schedule))
    fields.append(Field("Uptime", duration((now - services.started_at).total_seconds())))
    health, outage = services.db.health, services.db.outage
    if outage.since is not None:
        # First: nothing is stored or read back until it returns, by itself.
        fields.insert(
            0,
            Field(
                "Storage",
                f"unavailable since {when(outage.since, now)}: the database does not answer "
                f"({clip(outage.reason, 200)}; {outage.failures} failed). Recommendations "
                "are still answered but not saved; history, sessions and votes wait until "
                "it is back.",
            ),
        )
    elif health.failing_since is not None:
        # First: answers still go out, but nothing of them is kept (full disk, …).
        fields.insert(
            0,
            Field(
                "History",
                f"not being saved since {when(health.failing_since, now)}: the database "
                f"refuses writes ({clip(health.reason, 200)}; {health.failures} failed). "
                "Recommendations are still answered.",
            ),
        )
    return Reply(title="Status", fields=fields, kind=Kind.INFO, private=False)


def _kept_versions(services: Services) -> str:
    """Newest first: which one the pointer names, which were refused (blocking: disk)."""
    store = retrainer_for(services).store
    try:
        current = store.current_version()
    except Exception:
        current = None
    names = list(reversed(store.versions()))
    if not names:
        return "none"
    shown = []
    for name in names[:KEPT_SHOWN]:
        if name == current:
            shown.append(f"{name} (current)")
        elif store.refusal(name) is not None:
            shown.append(f"{name} (refused)")
        else:
            shown.append(name)
    more = f" and {len(names) - KEPT_SHOWN} older" if len(names) > KEPT_SHOWN else ""
    return ", ".join(shown) + more


def _counts(counts: Mapping[str, int], sources: Mapping[str, int]) -> str:
    text = (
        f"{counts.get('rows', '?')} rows, {counts.get('tracks', '?')} tracks, "
        f"{counts.get('playlists', '?')} playlists"
    )
    community = sum(n for name, n in sources.items() if name != "data_path")
    if community:
        text += f" ({community} community rows)"
    return text
