"""The predictive trainer as a periodic job: every minute, fit the models that are new, due on
schedule, drifted or failed (`service.plan_training`).

It used to be an in-process loop of the evaluator's holder; as a job it runs once per minute
slot on whichever worker takes it. A lease keeps two slots from training side by side when
one run outlasts its minute (a slow detector over a long history).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from intuitivus_flow.alerts import lease
from intuitivus_flow.alerts.rules import RulesError, configured_rules
from intuitivus_flow.forecasting import service
from intuitivus_flow.forecasting.options import ForecastOptions
from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.registry import TaskList
from intuitivus_flow.kit.db import unit_of_work

TRAIN_MODELS = "forecasting.train_models"
TRAINER_LEASE = "forecasting:trainer"
# Longer than any one run should take; a worker that dies mid-run frees the trainer after it.
TRAINER_TTL = timedelta(minutes=15)

TASKS = TaskList("forecasting")


@TASKS.periodic(TRAIN_MODELS, every=timedelta(minutes=1))
async def train_models(job: JobContext) -> dict[str, Any]:
    settings = job.settings
    if settings.alert_evaluation_seconds <= 0:
        return {"skipped": "alert evaluation is off"}
    try:
        rules = configured_rules(settings)
    except RulesError as exc:  # the evaluator logs it too; nothing to train for
        return {"skipped": f"alert rules unusable: {exc}"}
    now = job.now()
    async with unit_of_work(job.sessions) as session:
        mine = await lease.try_acquire(
            session, name=TRAINER_LEASE, holder=job.worker, now=now, ttl=TRAINER_TTL
        )
    if not mine:
        return {"skipped": "another worker is training"}
    try:
        options = ForecastOptions.from_settings(settings)
        # Each model commits on its own: one slow or failing fit keeps the others' results.
        async with unit_of_work(job.sessions) as session:
            planned = await service.plan_training(session, rules, now=now, options=options)
        for training in planned:
            async with unit_of_work(job.sessions) as session:
                await service.train(session, training, now=now, options=options)
    finally:
        async with unit_of_work(job.sessions) as session:
            await lease.release(session, name=TRAINER_LEASE, holder=job.worker)
    return {"trained": len(planned)}
