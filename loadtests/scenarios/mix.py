"""A realistic mix: each user signs in once, then each scheduled request is one of these, drawn
by weight (out of 100):

| weight | request | why this share |
|---|---|---|
| 30 | `GET /api/dashboard` | the page people leave open; the plan's scenario |
| 20 | `GET /api/conversations` (inbox) | agents and support staff poll it |
| 10 | `GET /api/agents` | the agents list, opened often |
| 10 | `GET /api/campaigns/{id}/performance` | marketers checking results |
| 15 | `POST /api/channels/whatsapp/webhook` | inbound WhatsApp messages, signed |
| 12 | `POST /api/webchat/{widget}/messages` | visitors writing on the site widget |
| 3  | `GET /api/data/export?entity=contacts&format=csv` | exports started |

Against a server that could not verify a WhatsApp number (a URL without the fake Graph API),
the webhook's share goes to web chat. The webhooks and chat messages make the workspace's
agents answer (the embedded worker, offline LLM), so writes invalidate the dashboard cache as
in real use.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable

from locust.contrib.fasthttp import ResponseContextManager

from loadtests.common.auth import Credentials
from loadtests.common.recorder import Sample
from loadtests.common.run import current_run
from loadtests.common.user import OpenModelUser, json_has
from loadtests.common.whatsapp import WEBHOOK_PATH, inbound_text, signed_headers
from loadtests.config import SeededWorkspace

WEIGHTS = {
    "dashboard": 30,
    "inbox": 20,
    "agents": 10,
    "campaign_performance": 10,
    "whatsapp_webhook": 15,
    "webchat_message": 12,
    "export_contacts": 3,
}


def _contacts_csv(response: ResponseContextManager) -> bool:
    header = (response.text or "").split("\n", 1)[0]
    headers = response.headers
    content_type = str(headers.get("content-type", "")) if headers is not None else ""
    return content_type.startswith("text/csv") and "phone" in header


class MixUser(OpenModelUser):
    abstract = True  # locustfile.py binds the one scenario a run uses

    workspace: SeededWorkspace
    credentials: Credentials

    def on_start(self) -> None:
        run = current_run()
        self.workspace = run.seed.workspaces[run.next_index() % len(run.seed.workspaces)]
        self.visitor = f"load-{uuid.uuid4().hex[:16]}"
        self._sign_in()
        super().on_start()  # the schedule starts once signed in

    def _sign_in(self) -> None:
        """Once per user, outside the schedule (it is not part of the steady mix)."""
        started = time.monotonic()
        with self.client.post(
            "/api/auth/login",
            json={"email": self.workspace.email, "password": self.workspace.password},
            name="POST /api/auth/login",
            catch_response=True,
        ) as response:
            ok = response.status_code == 200
            if ok:
                self.credentials = Credentials.from_token_pair(response.json())
            else:
                response.failure(f"sign-in refused: {response.status_code}")
        recorder = current_run().recorder
        recorder.add(Sample("POST /api/auth/login", started, time.monotonic(), None, ok))
        recorder.check("POST /api/auth/login: status 200", ok)
        if not ok:
            self.stop()  # nothing else this user could do would be meaningful

    def _auth(self) -> dict[str, str]:
        return self.credentials.headers(self.client)

    def dashboard(self) -> None:
        self.call(
            "GET",
            "/api/dashboard",
            name="GET /api/dashboard",
            headers=self._auth(),
            check=json_has("generated_at", "agents_by_status"),
        )

    def inbox(self) -> None:
        self.call(
            "GET",
            "/api/conversations?limit=20",
            name="GET /api/conversations",
            headers=self._auth(),
            check=json_has("items", "total"),
        )

    def agents(self) -> None:
        self.call(
            "GET",
            "/api/agents",
            name="GET /api/agents",
            headers=self._auth(),
            check=json_has("items", "total"),
        )

    def campaign_performance(self) -> None:
        campaign = random.choice(self.workspace.campaign_ids)  # noqa: S311
        self.call(
            "GET",
            f"/api/campaigns/{campaign}/performance",
            name="GET /api/campaigns/{id}/performance",
            headers=self._auth(),
            check=json_has("campaign_id", "total"),
        )

    def whatsapp_webhook(self) -> None:
        number = self.workspace.whatsapp
        if number is None:
            self.webchat_message()
            return
        sender = random.choice(self.workspace.contact_phones)  # noqa: S311
        body = inbound_text(number.phone_number_id, sender=sender, text="Hi, is this in stock?")
        self.call(
            "POST",
            WEBHOOK_PATH,
            name="POST /api/channels/whatsapp/webhook",
            data=body,
            headers=signed_headers(body, number.app_secret),
            check=json_has("received"),
        )

    def webchat_message(self) -> None:
        self.call(
            "POST",
            f"/api/webchat/{self.workspace.widget_key}/messages",
            name="POST /api/webchat/{widget}/messages",
            json={"visitor": self.visitor, "text": "Do you ship abroad?", "name": "Visitor"},
            expect=202,
            check=json_has("id", "direction"),
        )

    def export_contacts(self) -> None:
        self.call(
            "GET",
            "/api/data/export?entity=contacts&format=csv",
            name="GET /api/data/export (contacts csv)",
            headers=self._auth(),
            check=_contacts_csv,
        )

    tasks: dict[Callable[[MixUser], None], int] = {  # type: ignore[assignment]
        dashboard: WEIGHTS["dashboard"],
        inbox: WEIGHTS["inbox"],
        agents: WEIGHTS["agents"],
        campaign_performance: WEIGHTS["campaign_performance"],
        whatsapp_webhook: WEIGHTS["whatsapp_webhook"],
        webchat_message: WEIGHTS["webchat_message"],
        export_contacts: WEIGHTS["export_contacts"],
    }
