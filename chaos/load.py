"""The load during an experiment: a bounded, paced client on loopback that reads the dashboard
and writes records, and keeps every write it was told succeeded.

Each user operation is one of
- `dashboard`: GET /api/dashboard;
- `contact`: POST /api/contacts with a name and phone unique to this run;
- `payment`: POST /api/billing/payments with an `Idempotency-Key` unique to the operation.

Like a browser or an SDK, the client retries an operation once when the connection dropped
before any answer (a worker killed mid-request): the retry is safe because each operation is
idempotent (a GET; a contact identified by its unique phone, found by search when the first
attempt had committed; a payment under the same Idempotency-Key). Any HTTP answer, 503
included, is the operation's outcome: the SLI counts it as failed unless it is 2xx.

Every HTTP attempt is recorded (time, duration, status or error) for the timeline, the p95 and
the "answered, none hanging" check; the ids of acknowledged writes are kept for the check that
every one of them is in the database once (`chaos.probes.acknowledged_writes_lost`).
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

REQUEST_TIMEOUT_SECONDS = 15.0  # far above the app's own bounds: a hang shows as a long request
MIX = ("dashboard", "dashboard", "contact", "payment")  # one read per write


class LoadError(RuntimeError):
    """The load could not sign up its account (one readable line)."""


@dataclass(slots=True)
class Attempt:
    started: float  # seconds since the load's epoch
    duration: float
    operation: str
    status: int | None  # None: no answer (connection refused, reset, timed out)
    retry_after: bool = False


@dataclass(slots=True)
class Operation:
    started: float
    duration: float
    kind: str
    ok: bool
    status: int | None


@dataclass(slots=True)
class Acknowledged:
    contacts: dict[str, str] = field(default_factory=dict)  # id -> phone
    payments: dict[str, str] = field(default_factory=dict)  # id -> Idempotency-Key


class Account:
    """A workspace owner signed up through the API, as a customer would."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.run_id = secrets.token_hex(3)
        email = f"chaos-{self.run_id}@example.com"
        response = httpx.post(
            f"{base_url}/api/auth/register",
            json={
                "email": email,
                "password": secrets.token_urlsafe(18),
                "workspace_name": f"Chaos {self.run_id}",
            },
            timeout=30,
        )
        if response.status_code != 201:
            raise LoadError(f"sign-up answered {response.status_code}: {response.text[:200]}")
        body: dict[str, Any] = response.json()
        self.headers = {"Authorization": f"Bearer {body['access_token']}"}
        # Shared by every load of the account: a record's name is never reused in a run.
        self.sequence = itertools.count()


class Load:
    """`clients` threads together sending about `rate` operations per second until stopped."""

    def __init__(
        self, account: Account, *, epoch: float, rate: float = 20.0, clients: int = 8
    ) -> None:
        self.account = account
        self.rate = rate
        self.clients = clients
        self.epoch = epoch  # the experiment's clock: faults are marked on the same one
        self.attempts: list[Attempt] = []
        self.operations: list[Operation] = []
        self.acknowledged = Acknowledged()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sequence = account.sequence
        self._threads = [
            threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(clients)
        ]

    def now(self) -> float:
        return time.monotonic() - self.epoch

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT_SECONDS * 3)

    def snapshot(self) -> tuple[list[Attempt], list[Operation]]:
        with self._lock:
            return list(self.attempts), list(self.operations)

    # -- one client ----------------------------------------------------------------------------

    def _client(self, index: int) -> None:
        # Each client starts at its own phase, so the clients together send at an even pace.
        interval = self.clients / self.rate
        due = self.now() + interval * index / self.clients
        with httpx.Client(
            base_url=self.account.base_url,
            headers={**self.account.headers, "Connection": "close"},
            timeout=REQUEST_TIMEOUT_SECONDS,
        ) as http:
            for turn in itertools.count():
                wait = due - self.now()
                if wait > 0 and self._stop.wait(wait):
                    return
                if self._stop.is_set():
                    return
                self._operation(http, MIX[(index + turn) % len(MIX)])
                due = max(due + interval, self.now())

    def _operation(self, http: httpx.Client, kind: str) -> None:
        started = self.now()
        n = next(self._sequence)
        if kind == "dashboard":
            ok, status = self._dashboard(http)
        elif kind == "contact":
            ok, status = self._contact(http, n)
        else:
            ok, status = self._payment(http, n)
        with self._lock:
            self.operations.append(Operation(started, self.now() - started, kind, ok, status))

    def _send(
        self, http: httpx.Client, operation: str, method: str, url: str, **kwargs: Any
    ) -> httpx.Response | None:
        started = self.now()
        try:
            response = http.request(method, url, **kwargs)
        except httpx.HTTPError:
            response = None
        attempt = Attempt(
            started,
            self.now() - started,
            operation,
            None if response is None else response.status_code,
            response is not None and "retry-after" in response.headers,
        )
        with self._lock:
            self.attempts.append(attempt)
        return response

    def _retrying(
        self, http: httpx.Client, operation: str, method: str, url: str, **kwargs: Any
    ) -> httpx.Response | None:
        """One retry when no answer came back: the connection dropped with its worker."""
        response = self._send(http, operation, method, url, **kwargs)
        if response is None and not self._stop.is_set():
            response = self._send(http, operation, method, url, **kwargs)
        return response

    def _dashboard(self, http: httpx.Client) -> tuple[bool, int | None]:
        response = self._retrying(http, "dashboard", "GET", "/api/dashboard")
        status = None if response is None else response.status_code
        return status == 200, status

    def _contact(self, http: httpx.Client, n: int) -> tuple[bool, int | None]:
        # A mobile number of the run (Brazilian format, as the seeding uses): unique per record.
        phone = f"+55119{int(self.account.run_id, 16) % 100:02d}{n:06d}"
        body = {"name": f"chaos {self.account.run_id} {n}", "phone": phone, "tags": ["chaos"]}
        response = self._retrying(http, "contact", "POST", "/api/contacts", json=body)
        if response is None:
            return False, None
        contact_id: str | None = None
        if response.status_code == 201:
            contact_id = str(response.json()["id"])
        elif response.status_code == 409:
            # A retry after a dropped connection: the first attempt committed; find it.
            found = self._send(http, "contact", "GET", "/api/contacts", params={"q": phone})
            if found is not None and found.status_code == 200:
                items = found.json().get("items", [])
                contact_id = str(items[0]["id"]) if len(items) == 1 else None
        if contact_id is None:
            return False, response.status_code
        with self._lock:
            self.acknowledged.contacts[contact_id] = phone
        return True, response.status_code

    def _payment(self, http: httpx.Client, n: int) -> tuple[bool, int | None]:
        key = f"chaos-{self.account.run_id}-{n}"
        response = self._retrying(
            http,
            "payment",
            "POST",
            "/api/billing/payments",
            json={
                "amount_minor": 100 + n,
                "currency": "USD",
                "description": f"chaos {self.account.run_id} {n}",
            },
            headers={"Idempotency-Key": key},
        )
        if response is None:
            return False, None
        if response.status_code != 201:
            return False, response.status_code
        with self._lock:
            self.acknowledged.payments[str(response.json()["id"])] = key
        return True, response.status_code
