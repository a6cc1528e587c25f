"""Chaos Toolkit probes (`"provider": {"type": "python", "module": "chaos.probes"}`): the
steady-state SLIs, measured from the user's side, and the checks after the fault.

The steady-state hypothesis runs before the method and again after it. `sli_holds` measures
a short window of user load each time; the other probes judge what the method's load recorded
and are vacuously true before it (nothing was written, no fault happened yet).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from chaos import analysis, environment
from chaos.environment import Record
from chaos.load import Account, Load
from chaos.sender import read_log


def sli_holds(
    seconds: float | str = 5,
    min_success_ratio: float | str = 0.9999,
    max_p95_ms: float | str = 1000,
    rate: float | str = 20,
    warmup: float | str = 3,
) -> bool:
    """`min_success_ratio` of user operations succeed and their p95 stays under `max_p95_ms`,
    over `seconds` of the same load the method runs under."""
    env = environment.current()
    record = env.record
    if record.account is None:
        record.account = Account(env.base_url)
    phase = "after" if record.faults else "before"
    if phase == "before":
        # Fresh workers import and connect on their first requests: not the steady state.
        _window(record, float(rate), float(warmup))
    load = _window(record, float(rate), float(seconds))
    attempts, operations = load.snapshot()
    measured = analysis.figures(operations, attempts)
    record.steady[phase] = {
        "success_ratio": measured.success_ratio,
        "p95_ms": measured.p95_ms,
        "operations": measured.operations,
    }
    return bool(
        measured.operations > 0
        and measured.success_ratio >= float(min_success_ratio)
        and measured.p95_ms <= float(max_p95_ms)
    )


def _window(record: Record, rate: float, seconds: float) -> Load:
    assert record.account is not None
    load = Load(record.account, epoch=time.monotonic(), rate=rate, clients=4).start()
    time.sleep(seconds)
    load.stop()
    # The window's writes are acknowledged writes too: the check after counts them.
    record.steady_writes.contacts.update(load.acknowledged.contacts)
    record.steady_writes.payments.update(load.acknowledged.payments)
    return load


def targets_met_under_fault(
    min_success_ratio: float | str = 0.0,
    max_recovery_seconds: float | str = 3600,
    require_answered: bool | str = False,
) -> bool:
    """The method's load met the experiment's targets: success ratio during the fault,
    recovery after it, and (when required) every request answered with none hanging.
    True before the method: no fault happened yet."""
    env = environment.current()
    record = env.record
    if record.load is None or not record.faults:
        return True
    attempts, operations = record.load.snapshot()
    under = analysis.during(record.faults, operations, attempts)
    recovery = analysis.recovery_seconds(record.faults, operations)
    answered = str(require_answered).lower() in {"true", "1", "yes"}
    return bool(
        under.success_ratio >= float(min_success_ratio)
        and recovery is not None
        and recovery <= float(max_recovery_seconds)
        and (not answered or (under.answered_ratio == 1.0 and under.hanging == 0))
    )


def acknowledged_writes_lost() -> int:
    """Acknowledged writes (2xx with an id) missing from the database, plus any written twice:
    must be 0. Checked on the database directly, never through the fault."""
    env = environment.current()
    record = env.record
    contacts = dict(record.steady_writes.contacts)
    payments = dict(record.steady_writes.payments)
    if record.load is not None:
        contacts.update(record.load.acknowledged.contacts)
        payments.update(record.load.acknowledged.payments)
    if not contacts and not payments:
        return 0
    assert record.account is not None
    result = asyncio.run(
        _check(env.direct_database_url, record.account.run_id, set(contacts), set(payments))
    )
    record.writes = result
    return int(result["lost"] + result["duplicated"])


async def _check(
    url: str, run_id: str, contact_ids: set[str], payment_ids: set[str]
) -> dict[str, int]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            # The load names every record after its run and sequence number: a name seen
            # twice is a write stored twice.
            contact_rows = (
                await connection.execute(
                    text("SELECT id, name FROM contacts WHERE name LIKE :prefix"),
                    {"prefix": f"chaos {run_id} %"},
                )
            ).all()
            payment_rows = (
                await connection.execute(
                    text("SELECT id, description FROM billing_payments WHERE description LIKE :p"),
                    {"p": f"chaos {run_id} %"},
                )
            ).all()
    finally:
        await engine.dispose()
    stored_contacts = {str(row.id) for row in contact_rows}
    stored_payments = {str(row.id) for row in payment_rows}
    names = Counter(row.name for row in contact_rows)
    descriptions = Counter(row.description for row in payment_rows)
    return {
        "acknowledged": len(contact_ids) + len(payment_ids),
        "lost": len(contact_ids - stored_contacts) + len(payment_ids - stored_payments),
        "duplicated": sum(n - 1 for n in names.values() if n > 1)
        + sum(n - 1 for n in descriptions.values() if n > 1),
    }


def campaign_delivered_exactly_once() -> bool:
    """Every contact of the campaign got every step once: as many distinct messages at the
    channel as contacts x steps, no (step, contact) pair under two messages. True before the
    campaign exists."""
    env = environment.current()
    campaign: dict[str, Any] = env.record.campaign
    if not campaign:
        return True
    log = [e for e in read_log(env.data_dir) if e["campaign_id"] == campaign["id"]]
    pairs = Counter((e["step_id"], e["contact_id"]) for e in log)
    expected = int(campaign["contacts"]) * int(campaign["steps"])
    campaign["delivered"] = len(pairs)
    campaign["delivered_twice"] = sum(n - 1 for n in pairs.values() if n > 1)
    return len(pairs) == expected and campaign["delivered_twice"] == 0
