"""RETRAIN_CRON: parsing it, deciding whether a slot is due, and the APScheduler job.

Crontab weekdays: 0 and 7 are Sunday, 1 is Monday. APScheduler 3.x counts 0 as Monday
(its documented historical mistake), so `0 4 * * 1` handed to it as-is would train on
Tuesdays. `parse_cron` rewrites the weekday field into names first.

The coalescing rule lives in `is_due`: a scheduled run happens only if a cron slot lies
after the latest recorded run. Missing five slots while the bot was down therefore gives
one run at start-up, and a second bot process that fires the same slot after the first
one started skips it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.job import Job
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

log = logging.getLogger(__name__)

OFF_WORDS = frozenset({"off", "none", "disabled", "never"})
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
JOB_ID = "retrain"
CATCH_UP_JOB_ID = "retrain-catch-up"
# A slot fired late (the loop was busy, the machine slept) still runs if within this.
MISFIRE_GRACE_SECONDS = 3600
_NUMERIC_DOW = re.compile(r"^(\*|\d+)(?:-(\d+))?(?:/(\d+))?$")


def _crontab_weekdays(field: str) -> str:
    """Crontab day-of-week (0/7 = Sunday) → APScheduler names; names pass through."""
    if field == "*":
        return field
    parts: list[str] = []
    for part in field.split(","):
        match = _NUMERIC_DOW.match(part)
        if match is None:
            parts.append(part)  # names such as mon-fri mean the same in both
            continue
        start, end, step = match.groups()
        if start == "*":
            first, last = 0, 6
        else:
            first = int(start)
            last = int(end) if end is not None else (6 if step else first)
        if not (0 <= first <= 7 and 0 <= last <= 7 and first <= last):
            raise ValueError(f"day of week {part!r} must be within 0-7 (0 and 7 are Sunday)")
        for day in range(first, last + 1, int(step or 1)):
            parts.append(WEEKDAYS[day % 7])
    return ",".join(dict.fromkeys(parts))


def parse_cron(value: str) -> CronTrigger | None:
    """A UTC CronTrigger for a crontab expression, or None for "off".

    Raises ValueError with a message that names the setting and the expected format.
    """
    text = " ".join(value.split())
    if text.lower() in OFF_WORDS:
        return None
    fields = text.split(" ")
    try:
        if len(fields) != 5:
            raise ValueError(f"expected 5 fields, got {len(fields)}")
        fields[4] = _crontab_weekdays(fields[4])
        return CronTrigger.from_crontab(" ".join(fields), timezone=UTC)
    except ValueError as error:
        raise ValueError(
            f"RETRAIN_CRON={value!r} is not a crontab schedule ({error}); use 5 fields "
            "'minute hour day month weekday' in UTC, e.g. '0 4 * * 1' for Mondays at 04:00, "
            "or 'off'"
        ) from None


def next_slot_after(trigger: CronTrigger, moment: datetime) -> datetime | None:
    """The first cron slot strictly after `moment`."""
    return trigger.get_next_fire_time(None, moment + timedelta(microseconds=1))


def is_due(trigger: CronTrigger, last_run: datetime | None, now: datetime | None = None) -> bool:
    """True when a slot lies in (last_run, now]: the schedule owes one (coalesced) run."""
    if last_run is None:
        return True
    slot = next_slot_after(trigger, last_run)
    return slot is not None and slot <= (now or datetime.now(UTC))


class RetrainScheduler:
    """An AsyncIOScheduler on the bot's loop with one cron job (and a one-off catch-up).

    `fire` is the coroutine the job runs; it decides with `is_due` and the lease whether
    to train. APScheduler's own coalescing and max_instances=1 cover slots that pile up
    while the loop is busy; the database record covers restarts.
    """

    def __init__(self, trigger: CronTrigger | None, fire: Callable[[], Awaitable[None]]) -> None:
        self.trigger = trigger
        self.fire = fire
        self.scheduler = AsyncIOScheduler(timezone=UTC)

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def start(self, catch_up: bool = False) -> None:
        """Start on the running loop; with `catch_up`, also run once right away."""
        if self.trigger is not None:
            self.scheduler.add_job(
                self.fire,
                self.trigger,
                id=JOB_ID,
                name="scheduled retrain",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=MISFIRE_GRACE_SECONDS,
                replace_existing=True,
            )
            if catch_up:
                self.scheduler.add_job(
                    self.fire,
                    "date",
                    run_date=datetime.now(UTC),
                    id=CATCH_UP_JOB_ID,
                    name="retrain missed while the bot was down",
                    misfire_grace_time=None,
                    replace_existing=True,
                )
        self.scheduler.start()

    def job(self) -> Job | None:
        return self.scheduler.get_job(JOB_ID)

    def next_run_time(self) -> datetime | None:
        job = self.job()
        return None if job is None else job.next_run_time

    def fire_now(self) -> None:
        """Fire the cron job now through the scheduler (as if its slot had come)."""
        job = self.job()
        if job is None:
            raise RuntimeError("no retrain job is scheduled (RETRAIN_CRON=off)")
        job.modify(next_run_time=datetime.now(UTC))
        self.scheduler.wakeup()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
