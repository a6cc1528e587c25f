"""Chaos Toolkit actions (`"provider": {"type": "python", "module": "chaos.actions"}`): the load
and the five faults, each bounded in time, plus the rollbacks that undo a fault left half-done.

Arguments come from the experiment's configuration as text or numbers (environment variables
are text), so every duration is read through `float()`.
"""

from __future__ import annotations

import random
import signal
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from chaos import environment
from chaos.environment import Fault
from chaos.load import Account, Load
from chaos.sender import read_log

REPLACEMENT_TIMEOUT_SECONDS = 30.0


def start_load(rate: float | str = 20, clients: int | str = 8) -> dict[str, Any]:
    """Start the user load in the background (stopped by `stop_load`)."""
    env = environment.current()
    record = env.record
    if record.account is None:
        record.account = Account(env.base_url)
    load = Load(record.account, epoch=env.epoch, rate=float(rate), clients=int(clients))
    record.load = load.start()
    return {"started_at": round(env.now(), 3), "rate": float(rate), "clients": int(clients)}


def stop_load(after: float | str = 0) -> dict[str, Any]:
    """Keep the load running `after` seconds more (the recovery is measured on it), then stop."""
    load = environment.current().record.load
    if load is None:
        return {"operations": 0}
    time.sleep(float(after))
    load.stop()
    attempts, operations = load.snapshot()
    return {
        "operations": len(operations),
        "failed": sum(not op.ok for op in operations),
        "attempts": len(attempts),
    }


def _begin(name: str) -> Fault:
    env = environment.current()
    fault = Fault(name, env.now())
    env.record.faults.append(fault)
    return fault


def kill_web_workers(duration: float | str = 60, interval: float | str = 10) -> dict[str, Any]:
    """Every `interval` seconds for `duration` seconds, SIGKILL a random serving worker (the
    plan's pod-delete: TOTAL_CHAOS_DURATION, CHAOS_INTERVAL); then wait for the master to have
    its full count of workers again."""
    env = environment.current()
    fault = _begin("web worker kills")
    ends = time.monotonic() + float(duration)
    victims: list[int] = []
    while time.monotonic() < ends:
        workers = env.web_workers()
        if workers:
            victim = random.choice(workers)  # noqa: S311 - chaos, not cryptography
            victim.send_signal(signal.SIGKILL)
            victims.append(victim.pid)
            env.record.marks.append((env.now(), f"kill {victim.pid}"))
        time.sleep(max(0.0, min(float(interval), ends - time.monotonic())))
    fault.ended = env.now()
    env.wait_until(
        lambda: (
            len(env.web_workers()) == env.options.web_workers
            and not set(victims) & {p.pid for p in env.web_workers()}
        ),
        "full set of replacement web workers",
        REPLACEMENT_TIMEOUT_SECONDS,
    )
    return {"killed": victims}


def stop_postgres(seconds: float | str = 20) -> dict[str, Any]:
    """Stop the throw-away PostgreSQL (immediate mode: its connections drop) for `seconds`."""
    env = environment.current()
    assert env.postgres is not None
    fault = _begin("PostgreSQL stopped")
    env.postgres.stop()
    time.sleep(float(seconds))
    env.postgres.start()
    fault.ended = env.now()
    return {"stopped_seconds": round(fault.ended - fault.started, 2)}


def start_postgres() -> None:
    """Rollback: the cluster runs again, whatever happened to the method."""
    env = environment.current()
    if env.postgres is not None and not env.postgres.running():
        env.postgres.start()


def stop_redis(seconds: float | str = 20) -> dict[str, Any]:
    """Kill our redis-server for `seconds`, then start it again on the same port (empty, as
    a Redis without persistence comes back)."""
    env = environment.current()
    assert env.redis is not None
    fault = _begin("Redis stopped")
    env.redis.kill()
    time.sleep(float(seconds))
    env.redis.start()
    fault.ended = env.now()
    return {"stopped_seconds": round(fault.ended - fault.started, 2)}


def start_redis() -> None:
    env = environment.current()
    if env.redis is not None and env.redis._process is None:
        env.redis.start()


def add_database_latency(
    milliseconds: float | str = 200, seconds: float | str = 20
) -> dict[str, Any]:
    """Every chunk between app and database waits `milliseconds` in each direction."""
    env = environment.current()
    if env.proxy is None:
        raise environment.EnvironmentError_("the environment has no database proxy (db_proxy)")
    fault = _begin(f"database latency {float(milliseconds):.0f} ms")
    env.proxy.set_latency(float(milliseconds) / 1000)
    time.sleep(float(seconds))
    env.proxy.set_latency(0.0)
    fault.ended = env.now()
    return {"latency_ms": float(milliseconds), "seconds": float(seconds)}


def remove_database_latency() -> None:
    env = environment.current()
    if env.proxy is not None:
        env.proxy.set_latency(0.0)


# -- experiment 2: the job worker killed mid-campaign --------------------------------------


def start_campaign(contacts: int | str = 40) -> dict[str, Any]:
    """A campaign of two template steps to `contacts` new contacts, set running."""
    env = environment.current()
    record = env.record
    if record.account is None:
        record.account = Account(env.base_url)
    account = record.account
    tag = f"cohort-{account.run_id}"
    with httpx.Client(base_url=env.base_url, headers=account.headers, timeout=30) as http:
        for n in range(int(contacts)):
            # Campaign sends need an explicit opt-in (docs/contacts.md).
            contact = {
                "name": f"cohort {n}",
                "phone": f"+55219{n:08d}",
                "tags": [tag],
                "opt_in": "opted_in",
            }
            _expect(http.post("/api/contacts", json=contact), 201, "contact")
        campaign = _expect(
            http.post(
                "/api/campaigns",
                json={
                    "name": f"Chaos {account.run_id}",
                    "platform": "whatsapp",
                    "audience_tags": [tag],
                    "starts_at": datetime.now(UTC).isoformat(),  # scheduling requires it
                },
            ),
            201,
            "campaign",
        )
        steps = [
            {"kind": "send_template", "template": "welcome", "language": "en"},
            {"kind": "send_template", "template": "offer", "language": "en"},
        ]
        url = f"/api/campaigns/{campaign['id']}"
        body: dict[str, Any] = {"steps": steps, "version": campaign["steps_version"]}
        _expect(http.put(f"{url}/steps", json=body), 200, "steps")
        for status in ("scheduled", "active"):
            _expect(http.put(f"{url}/status", json={"status": status}), 200, status)
        _expect(http.post(f"{url}/automation/run"), 202, "run")
    record.campaign = {"id": campaign["id"], "contacts": int(contacts), "steps": len(steps)}
    return dict(record.campaign)


def kill_job_worker_mid_campaign(
    after_deliveries: int | str = 10, restart_after: float | str = 1
) -> dict[str, Any]:
    """Once `after_deliveries` messages went out, SIGKILL the worker; start a new one
    `restart_after` seconds later, as its supervisor (Kubernetes, systemd) would."""
    env = environment.current()
    env.wait_until(
        lambda: len(read_log(env.data_dir)) >= int(after_deliveries),
        f"{after_deliveries} campaign deliveries",
        60,
    )
    fault = _begin("job worker killed")
    delivered = len(read_log(env.data_dir))
    pid = env.kill_job_worker()
    env.record.marks.append((env.now(), f"kill worker {pid}"))
    time.sleep(float(restart_after))
    env.start_job_worker()
    fault.ended = env.now()
    return {"killed": pid, "delivered_before_kill": delivered}


def ensure_job_worker() -> None:
    """Rollback: a job worker runs again."""
    env = environment.current()
    if env.worker is None or env.worker.poll() is not None:
        env.start_job_worker()


def wait_for_campaign(timeout: float | str = 90) -> dict[str, Any]:
    """Until every contact went through every step (the campaign finished), bounded."""
    env = environment.current()
    campaign = env.record.campaign
    expected = int(campaign["contacts"]) * int(campaign["steps"])
    env.wait_until(
        lambda: len({e["key"] for e in read_log(env.data_dir)}) >= expected,
        "campaign completion",
        float(timeout),
    )
    killed = [f for f in env.record.faults if f.name == "job worker killed"]
    if killed:
        # The fault lasts until the jobs the dead worker held were taken over and finished:
        # the API's figures "during the fault" cover that whole time.
        killed[-1].ended = env.now()
        campaign["finished_after_kill_seconds"] = round(env.now() - killed[-1].started, 2)
    return {"deliveries": expected}


def _expect(response: httpx.Response, status: int, what: str) -> dict[str, Any]:
    if response.status_code != status:
        raise environment.EnvironmentError_(
            f"{what} answered {response.status_code}: {response.text[:200]}"
        )
    body: dict[str, Any] = response.json()
    return body
