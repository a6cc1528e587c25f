"""Seeding through the public API, as a customer would fill a workspace: each workspace gets an
owner, agents, contacts, campaigns with 30 days of reports, the web-chat widget, a WhatsApp
number with its app secret and live conversations, plus signed-in sessions for the scenarios.

Going through the API (not the database) works against any URL the user passes, and exercises
the same code the load does. A server that cannot verify the WhatsApp number (one whose Graph
API is Meta's) is seeded without it, and the mix sends no webhooks there.
"""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from loadtests.common.whatsapp import WEBHOOK_PATH, inbound_text, signed_headers
from loadtests.config import Seed, SeededNumber, SeededSession, SeededWorkspace

AGENTS = 3  # the free plan allows 5
CAMPAIGNS = 3
REPORT_DAYS = 30
CONVERSATIONS = 10


class SeedError(RuntimeError):
    """The server refused part of the seeding (one readable line)."""


@dataclass(frozen=True, slots=True)
class SeedPlan:
    workspaces: int
    sessions: int  # signed-in sessions in all, spread over the workspaces
    contacts: int  # per workspace


def _expect(response: httpx.Response, status: int, what: str) -> dict[str, Any]:
    if response.status_code != status:
        raise SeedError(f"seeding: {what} answered {response.status_code}: {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


def _session(body: dict[str, Any]) -> SeededSession:
    return SeededSession(
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
        expires_at=time.time() + float(body["expires_in"]),
    )


def _report_rows() -> list[dict[str, Any]]:
    today = datetime.now(UTC).date()
    rows = []
    for back in range(REPORT_DAYS, 0, -1):
        day: date = today - timedelta(days=back)
        clicks = 40 + back * 3
        rows.append(
            {
                "date": day.isoformat(),
                "impressions": clicks * 25,
                "clicks": clicks,
                "conversions": clicks // 10,
                "spend_minor": clicks * 35,
                "revenue_minor": clicks * 90,
            }
        )
    return rows


class Seeder:
    def __init__(self, client: httpx.Client, run_id: str) -> None:
        self.client = client
        self.run_id = run_id

    def workspace(self, index: int, *, contacts: int, sessions: int) -> SeededWorkspace:
        email = f"load-{self.run_id}-{index}@example.com"
        password = secrets.token_urlsafe(18)
        owner = _expect(
            self.client.post(
                "/api/auth/register",
                json={"email": email, "password": password, "workspace_name": f"Load {index}"},
            ),
            201,
            "sign-up",
        )
        auth = {"Authorization": f"Bearer {owner['access_token']}"}
        agent_ids = [self._agent(auth, n) for n in range(AGENTS)]
        phones = [f"+55119{index % 100:02d}{n:06d}" for n in range(contacts)]
        for n, phone in enumerate(phones):
            _expect(
                self.client.post(
                    "/api/contacts",
                    json={
                        "name": f"Customer {n}",
                        "phone": phone,
                        "tags": ["load"],
                        "opt_in": "opted_in",  # campaign sends need it (docs/contacts.md)
                    },
                    headers=auth,
                ),
                201,
                "contact",
            )
        campaign_ids = [self._campaign(auth, n) for n in range(CAMPAIGNS)]
        widget_key = _expect(
            self.client.patch(
                "/api/conversations/settings",
                json={"default_agent_id": agent_ids[0], "widget_enabled": True},
                headers=auth,
            ),
            200,
            "conversation settings",
        )["widget_key"]
        number = self._number(auth, index, agent_ids[0])
        if number is not None:
            for phone in phones[:CONVERSATIONS]:
                body = inbound_text(number.phone_number_id, sender=phone, text="Hello!")
                _expect(
                    self.client.post(
                        WEBHOOK_PATH, content=body, headers=signed_headers(body, number.app_secret)
                    ),
                    200,
                    "webhook",
                )
        return SeededWorkspace(
            email=email,
            password=password,
            sessions=[_session(owner), *self._sign_in(email, password, sessions - 1)],
            agent_ids=agent_ids,
            campaign_ids=campaign_ids,
            contact_phones=phones,
            widget_key=widget_key,
            whatsapp=number,
        )

    def _agent(self, auth: dict[str, str], n: int) -> str:
        body = {"name": f"Agent {n}", "role": "Support", "system_prompt": "Answer briefly."}
        return str(
            _expect(self.client.post("/api/agents", json=body, headers=auth), 201, "agent")["id"]
        )

    def _campaign(self, auth: dict[str, str], n: int) -> str:
        campaign = _expect(
            self.client.post(
                "/api/campaigns",
                json={"name": f"Campaign {n}", "platform": "meta_ads", "currency": "USD"},
                headers=auth,
            ),
            201,
            "campaign",
        )
        _expect(
            self.client.post(
                f"/api/campaigns/{campaign['id']}/reports",
                json={"rows": _report_rows()},
                headers=auth,
            ),
            200,
            "campaign report",
        )
        return str(campaign["id"])

    def _number(self, auth: dict[str, str], index: int, agent_id: str) -> SeededNumber | None:
        phone_number_id = f"{int(time.time())}{index:04d}{secrets.randbelow(10**4):04d}"
        app_secret = secrets.token_urlsafe(24)
        response = self.client.post(
            "/api/channels/whatsapp/numbers",
            json={
                "phone_number_id": phone_number_id,
                "display_number": "+1 555 0100",
                "access_token": f"EAAG-load-{secrets.token_hex(8)}",
                "verify_token": secrets.token_urlsafe(16),
                "app_secret": app_secret,
                "agent_id": agent_id,
            },
            headers=auth,
        )
        if response.status_code != 201:
            return None  # the server's Graph API would not confirm a made-up number
        return SeededNumber(phone_number_id, app_secret)

    def _sign_in(self, email: str, password: str, count: int) -> list[SeededSession]:
        def one(_: int) -> SeededSession:
            response = self.client.post(
                "/api/auth/login", json={"email": email, "password": password}
            )
            return _session(_expect(response, 200, "sign-in"))

        # Password hashing dominates: a few at once keeps a multi-worker server busy.
        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(one, range(max(0, count))))


def seed(base_url: str, plan: SeedPlan) -> Seed:
    run_id = secrets.token_hex(3)
    per_workspace = [
        plan.sessions // plan.workspaces + (1 if i < plan.sessions % plan.workspaces else 0)
        for i in range(plan.workspaces)
    ]
    try:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            seeder = Seeder(client, run_id)
            return Seed(
                workspaces=[
                    seeder.workspace(i, contacts=plan.contacts, sessions=max(1, per_workspace[i]))
                    for i in range(plan.workspaces)
                ]
            )
    except httpx.HTTPError as error:
        raise SeedError(f"seeding: cannot reach {base_url}: {error}") from error
