"""Bearer credentials of a simulated user, renewed through `/api/auth/refresh` before they lapse.

Several users may share one seeded session (the headline run's 1000 users share a pool of
sessions rather than paying 1000 password hashes). Refresh tokens are single use and reusing
one revokes the whole session, so exactly one user refreshes a session while the others wait
on its lock and then take the new access token.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from gevent.lock import Semaphore

from loadtests.common.recorder import Sample
from loadtests.common.run import current_run
from loadtests.config import SeededSession

if TYPE_CHECKING:
    from locust.contrib.fasthttp import FastHttpSession

# Renew this long before expiry: a request must never carry a token that lapses in flight.
REFRESH_MARGIN_SECONDS = 60.0


class Credentials:
    def __init__(self, session: SeededSession) -> None:
        self._access = session.access_token
        self._refresh = session.refresh_token
        self._expires_at = session.expires_at
        self._lock = Semaphore()

    @classmethod
    def from_token_pair(cls, body: dict[str, object]) -> Credentials:
        return cls(
            SeededSession(
                access_token=str(body["access_token"]),
                refresh_token=str(body["refresh_token"]),
                expires_at=time.time() + float(str(body["expires_in"])),
            )
        )

    def headers(self, client: FastHttpSession) -> dict[str, str]:
        if self._stale():
            with self._lock:
                if self._stale():  # another user may have refreshed while this one waited
                    self._renew(client)
        return {"Authorization": f"Bearer {self._access}"}

    def _stale(self) -> bool:
        return time.time() > self._expires_at - REFRESH_MARGIN_SECONDS

    def _renew(self, client: FastHttpSession) -> None:
        started = time.monotonic()
        with client.post(
            "/api/auth/refresh",
            json={"refresh_token": self._refresh},
            name="POST /api/auth/refresh",
            catch_response=True,
        ) as response:
            ok = response.status_code == 200
            if ok:
                body = response.json()
                self._access = body["access_token"]
                self._refresh = body["refresh_token"]
                self._expires_at = time.time() + float(body["expires_in"])
            else:
                response.failure(f"refresh refused: {response.status_code}")
        run = current_run()
        run.recorder.add(Sample("POST /api/auth/refresh", started, time.monotonic(), None, ok))
        run.recorder.check("refresh: status 200", ok)
