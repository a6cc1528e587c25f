"""Provider keys and completions through the API, on both engines, against a local vendor.

The fake vendor listens on 127.0.0.1, which the outbound rule refuses: these tests reach it
because their settings allow it, as an operator would (`FLOW_OUTBOUND_ALLOW`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from intuitivus_flow.llm.models import ProviderKey
from tests.helpers import Account, assert_problem, invite_and_join, register
from tests.llm.vendor_server import API_KEY, RunningVendor, serve_vendor

LOCAL_VENDOR = {"outbound_allow": ["127.0.0.1"]}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return LOCAL_VENDOR


@pytest.fixture
def vendor() -> Iterator[RunningVendor]:
    yield from serve_vendor()


@pytest.fixture
def backup_vendor() -> Iterator[RunningVendor]:
    yield from serve_vendor()


async def add_key(
    client: httpx.AsyncClient, owner: Account, vendor: RunningVendor, **fields: Any
) -> dict[str, Any]:
    body = {
        "provider": "openai_compatible",
        "label": "main",
        "api_key": API_KEY,
        "base_url": vendor.url,
        "default_model": "gpt-4o-mini",
        **fields,
    }
    response = await client.post("/api/llm/keys", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def ask(
    client: httpx.AsyncClient, account: Account, text: str = "hi", **fields: Any
) -> httpx.Response:
    return await client.post(
        "/api/llm/complete",
        headers=account.headers,
        json={"messages": [{"role": "user", "content": text}], **fields},
    )


OPENAI = {"provider": "openai", "label": "l", "api_key": "sk-k", "default_model": "gpt-4o"}
COMPATIBLE = {"provider": "openai_compatible", "label": "l", "default_model": "m"}


class TestKeys:
    async def test_key_is_encrypted_and_never_returned(
        self, client: httpx.AsyncClient, app: Any, vendor: RunningVendor
    ) -> None:
        owner = await register(client)
        created = await add_key(client, owner, vendor)
        assert created["key_hint"] == "…" + API_KEY[-4:]
        listing = await client.get("/api/llm/keys", headers=owner.headers)
        assert API_KEY not in listing.text
        async with app.state.context.sessions() as session:
            stored = await session.scalar(select(ProviderKey.encrypted_key))
        assert stored is not None
        assert API_KEY not in stored
        assert app.state.context.secrets.decrypt(stored) == API_KEY

    async def test_members_cannot_manage_keys(
        self, client: httpx.AsyncClient, vendor: RunningVendor
    ) -> None:
        owner = await register(client)
        member = await invite_and_join(client, owner)
        response = await client.post(
            "/api/llm/keys",
            headers=member.headers,
            json={"provider": "openai", "label": "x", "api_key": "k", "default_model": "m"},
        )
        assert_problem(response, 403)

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"provider": "openai_compatible", "label": "l", "default_model": "m"}, "body"),
            ({"provider": "anthropic", "label": "l", "default_model": "m"}, "body"),
            ({"provider": "offline", "label": "l", "default_model": "m"}, "body"),
            ({"provider": "skynet", "label": "l", "default_model": "m"}, "body.provider"),
            # Issue 10, item 11: each of these was a 500 (or a key that crashed every call).
            ({**OPENAI, "api_key": "sk-clé"}, "body.api_key"),
            ({**OPENAI, "api_key": "sk-\u043a\u043b\u044e\u0447"}, "body.api_key"),
            ({**OPENAI, "monthly_token_limit": 2**63}, "body.monthly_token_limit"),
            ({**OPENAI, "monthly_cost_limit_micros": 10**30}, "body.monthly_cost_limit_micros"),
            ({**COMPATIBLE, "base_url": "http://h.example/" + "a" * 500}, "body.base_url"),
            ({**OPENAI, "prompt_micros_per_million": -1}, "body.prompt_micros_per_million"),
        ],
    )
    async def test_invalid_keys_are_422(
        self, client: httpx.AsyncClient, body: dict[str, Any], field: str
    ) -> None:
        owner = await register(client)
        response = await client.post("/api/llm/keys", json=body, headers=owner.headers)
        assert assert_problem(response, 422)["errors"][0]["field"] == field

    async def test_update_and_remove(
        self, client: httpx.AsyncClient, vendor: RunningVendor
    ) -> None:
        owner = await register(client)
        created = await add_key(client, owner, vendor)
        changed = await client.patch(
            f"/api/llm/keys/{created['id']}",
            headers=owner.headers,
            json={"priority": 5, "api_key": "sk-new-secret-9999"},
        )
        assert changed.json()["priority"] == 5
        assert changed.json()["key_hint"] == "…9999"
        for bad in ({"api_key": "sk-clé"}, {"monthly_token_limit": 2**63}):
            refused = await client.patch(
                f"/api/llm/keys/{created['id']}", headers=owner.headers, json=bad
            )
            assert assert_problem(refused, 422)["errors"][0]["field"] == f"body.{next(iter(bad))}"
        removed = await client.delete(f"/api/llm/keys/{created['id']}", headers=owner.headers)
        assert removed.status_code == 204
        assert (await client.get("/api/llm/keys", headers=owner.headers)).json() == []

    async def test_other_workspaces_keys_are_invisible(
        self, client: httpx.AsyncClient, vendor: RunningVendor
    ) -> None:
        alpha, beta = await register(client), await register(client)
        created = await add_key(client, alpha, vendor)
        assert (await client.get("/api/llm/keys", headers=beta.headers)).json() == []
        assert_problem(
            await client.delete(f"/api/llm/keys/{created['id']}", headers=beta.headers), 404
        )


class TestCompletions:
    async def test_offline_provider_answers_with_no_key(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        response = await ask(client, owner, "hello there")
        assert response.status_code == 200
        body = response.json()
        assert body["provider"] == "offline"
        assert body["text"].startswith("[offline provider")

    async def test_fallback_records_usage_and_cost(
        self, client: httpx.AsyncClient, vendor: RunningVendor, backup_vendor: RunningVendor
    ) -> None:
        owner = await register(client)
        await add_key(client, owner, vendor, label="primary", priority=1)
        await add_key(
            client,
            owner,
            backup_vendor,
            label="backup",
            priority=2,
            default_model="claude-3-5-haiku-latest",
        )
        vendor.state.modes["openai"] = "error500"
        response = await ask(client, owner)
        body = response.json()
        assert body["provider"] == "openai_compatible:backup"
        assert [a["outcome"] for a in body["attempts"]] == ["unavailable", "ok"]
        # claude-3-5-haiku: $0.80 / $4.00 per million -> 11*0.8 + 7*4 = 36.8 micro-USD
        assert body["cost_micros"] == 37
        usage = (await client.get("/api/llm/usage", headers=owner.headers)).json()["rows"]
        outcomes = {(row["provider"], row["outcome"]): row for row in usage}
        assert outcomes[("openai_compatible", "unavailable")]["calls"] == 1
        assert outcomes[("openai_compatible", "ok")]["tokens"] == 18

    async def test_monthly_token_limit_is_enforced(
        self, client: httpx.AsyncClient, vendor: RunningVendor
    ) -> None:
        owner = await register(client)
        await add_key(client, owner, vendor, monthly_token_limit=20)
        first = await ask(client, owner)
        assert first.json()["provider"] == "openai_compatible:main"  # 18 tokens used
        second = await ask(client, owner)
        assert second.json()["provider"] == "openai_compatible:main"  # 18 < 20: still allowed
        third = await ask(client, owner)
        body = assert_problem(third, 503, "llm-unavailable")
        assert body["attempts"] == [
            {"provider": "openai_compatible:main", "outcome": "skipped:monthly_token_limit"}
        ]

    async def test_all_failing_is_503_and_attempts_are_kept(
        self, client: httpx.AsyncClient, vendor: RunningVendor
    ) -> None:
        owner = await register(client)
        await add_key(client, owner, vendor)
        vendor.state.modes["openai"] = "quota429"
        assert_problem(await ask(client, owner), 503, "llm-unavailable")
        usage = (await client.get("/api/llm/usage", headers=owner.headers)).json()["rows"]
        assert usage == [
            {
                "provider": "openai_compatible",
                "outcome": "quota",
                "calls": 1,
                "tokens": 0,
                "cost_micros": 0,
            }
        ]

    async def test_paused_key_is_not_used(
        self, client: httpx.AsyncClient, vendor: RunningVendor
    ) -> None:
        owner = await register(client)
        created = await add_key(client, owner, vendor)
        await client.patch(
            f"/api/llm/keys/{created['id']}", json={"active": False}, headers=owner.headers
        )
        assert (await ask(client, owner)).json()["provider"] == "offline"
        assert vendor.state.requests == []


async def test_rotation_re_encrypts_every_key(
    client: httpx.AsyncClient, app: Any, vendor: RunningVendor
) -> None:
    from intuitivus_flow.kit.crypto import SecretBox, generate_key
    from intuitivus_flow.llm import service

    owner = await register(client)
    await add_key(client, owner, vendor)
    old_box: SecretBox = app.state.context.secrets
    new_key = generate_key()
    async with app.state.context.sessions() as session:
        old_token = await session.scalar(select(ProviderKey.encrypted_key))
        rotating = SecretBox([new_key, *old_box_keys(app)])
        assert await service.rotate_encryption(session, rotating) == 1
        await session.commit()
        new_token = await session.scalar(select(ProviderKey.encrypted_key))
    assert old_token != new_token
    assert SecretBox([new_key]).decrypt(new_token) == API_KEY
    assert old_box.decrypt(old_token) == API_KEY


def old_box_keys(app: Any) -> list[str]:
    from intuitivus_flow.kit.crypto import derive_key

    return [derive_key(app.state.context.settings.resolved_secret_key())]


def test_rotate_keys_cli_reencrypts_in_one_transaction(tmp_path: Any) -> None:
    import asyncio
    import os
    import subprocess
    import sys

    from intuitivus_flow.config import Settings
    from intuitivus_flow.kit.crypto import SecretBox, generate_key
    from intuitivus_flow.kit.db import create_engine
    from intuitivus_flow.kit.migrations import upgrade

    old, new = generate_key(), generate_key()
    url = f"sqlite+aiosqlite:///{tmp_path / 'rot.db'}"

    async def prepare() -> None:
        engine = create_engine(Settings(data_dir=tmp_path, database_url=url))
        await upgrade(engine)
        async with engine.begin() as connection:
            workspace = "11111111111111111111111111111111"
            await connection.exec_driver_sql(
                f"INSERT INTO workspaces (id, name, created_at) VALUES ('{workspace}', 'W', "
                "'2026-01-01 00:00:00')"
            )
            token = SecretBox([old]).encrypt("sk-rotate-me")
            await connection.exec_driver_sql(
                "INSERT INTO llm_provider_keys (id, workspace_id, provider, label, "
                "default_model, encrypted_key, key_hint, priority, active, created_at) VALUES "
                f"('22222222222222222222222222222222', '{workspace}', 'openai', 'k', 'm', "
                f"'{token}', 'x', 1, 1, '2026-01-01 00:00:00')"
            )
        await engine.dispose()

    asyncio.run(prepare())
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOW_")}
    env.update({"FLOW_DATA_DIR": str(tmp_path), "FLOW_DATABASE_URL": url})
    cmd = [sys.executable, "-m", "intuitivus_flow", "llm", "rotate-keys"]
    missing_old = subprocess.run(
        cmd, env={**env, "FLOW_ENCRYPTION_KEYS": new}, capture_output=True, text=True, check=False
    )
    assert missing_old.returncode == 2
    assert missing_old.stderr.startswith("error: cannot rotate")
    done = subprocess.run(
        cmd,
        env={**env, "FLOW_ENCRYPTION_KEYS": f"{new},{old}"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "re-encrypted 1 provider key" in done.stdout


def port_of(vendor: RunningVendor) -> str:
    return vendor.url.rsplit(":", 1)[1]


def resolve_to_loopback(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Stand-in DNS (none is reachable here): these names resolve to 127.0.0.1."""
    from intuitivus_flow.kit import outbound

    async def resolve(host: str, port: int) -> list[str]:
        if host not in names:
            raise OSError(f"unknown host {host}")
        return ["127.0.0.1"]

    monkeypatch.setattr(outbound, "resolve", resolve)


class TestOutboundGuard:
    """Issue 10, item 1: no operator exception here, as on a default instance."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {}

    @pytest.mark.parametrize(
        "base_url",
        [
            "http://127.0.0.1:6379/",
            "http://localhost:5432/",
            "http://2130706433/",
            "http://0x7f.1:8000/",
            "http://[::1]:8000/",
            "http://[::ffff:127.0.0.1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.7:11434/",
            "http://0.0.0.0:8000/",
            "http://[fe80::1]/",
        ],
    )
    async def test_internal_base_urls_are_422(
        self, client: httpx.AsyncClient, base_url: str
    ) -> None:
        owner = await register(client)
        body = {**COMPATIBLE, "base_url": base_url}
        response = await client.post("/api/llm/keys", json=body, headers=owner.headers)
        problem = assert_problem(response, 422)
        assert problem["errors"][0]["field"] == "body.base_url"
        assert "not a public address" in problem["errors"][0]["msg"]

    @pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
    async def test_base_url_is_only_for_openai_compatible_keys(
        self, client: httpx.AsyncClient, provider: str
    ) -> None:
        owner = await register(client)
        body = {**OPENAI, "provider": provider, "base_url": "https://api.example.com"}
        response = await client.post("/api/llm/keys", json=body, headers=owner.headers)
        assert "only for an OpenAI-compatible" in assert_problem(response, 422)["errors"][0]["msg"]

    @pytest.mark.parametrize(
        "base_url",
        ["https://llm.example.com/?", "https://llm.example.com/#x", "https://u:p@llm.example.com"],
    )
    async def test_base_url_cannot_choose_the_path_or_carry_credentials(
        self, client: httpx.AsyncClient, base_url: str
    ) -> None:
        owner = await register(client)
        body = {**COMPATIBLE, "base_url": base_url}
        response = await client.post("/api/llm/keys", json=body, headers=owner.headers)
        assert assert_problem(response, 422)["errors"][0]["field"] == "body.base_url"

    async def test_a_name_resolving_to_loopback_is_refused_when_connecting(
        self, client: httpx.AsyncClient, vendor: RunningVendor, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        resolve_to_loopback(monkeypatch, "rebind.example")
        owner = await register(client)
        await add_key(client, owner, vendor, base_url=f"http://rebind.example:{port_of(vendor)}")
        response = await ask(client, owner)
        body = assert_problem(response, 503, "llm-unavailable")
        assert body["attempts"] == [
            {"provider": "openai_compatible:main", "outcome": "address_refused"}
        ]
        assert vendor.state.requests == []
        usage = (await client.get("/api/llm/usage", headers=owner.headers)).json()["rows"]
        assert usage[0]["outcome"] == "address_refused"

    async def test_a_key_stored_with_an_internal_url_cannot_reach_it(
        self, client: httpx.AsyncClient, app: Any, vendor: RunningVendor
    ) -> None:
        # Keys stored before the rule existed are caught when connecting.
        owner = await register(client)
        await add_key(client, owner, vendor, base_url="https://llm.example.com")
        async with app.state.context.sessions() as session:
            key = await session.scalar(select(ProviderKey))
            assert key is not None
            key.base_url = f"http://2130706433:{port_of(vendor)}/"
            await session.commit()
        body = assert_problem(await ask(client, owner), 503, "llm-unavailable")
        assert body["attempts"][0]["outcome"] == "address_refused"
        assert vendor.state.requests == []


class TestOperatorAllowList:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"outbound_allow": ["ollama.internal"]}

    async def test_a_named_host_is_let_through_and_keeps_its_name(
        self, client: httpx.AsyncClient, vendor: RunningVendor, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        resolve_to_loopback(monkeypatch, "ollama.internal", "other.internal")
        owner = await register(client)
        port = port_of(vendor)
        await add_key(client, owner, vendor, base_url=f"http://ollama.internal:{port}")
        response = await ask(client, owner)
        assert response.status_code == 200, response.text
        assert vendor.state.requests[-1][2]["host"] == f"ollama.internal:{port}"
        # Only that name: another one resolving to the same address is still refused.
        await add_key(
            client,
            owner,
            vendor,
            label="other",
            priority=0,
            base_url=f"http://other.internal:{port}",
        )
        attempts = (await ask(client, owner)).json()["attempts"]
        assert [a["outcome"] for a in attempts] == ["address_refused", "ok"]

    async def test_the_allow_list_does_not_open_literal_addresses(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        body = {**COMPATIBLE, "base_url": "http://127.0.0.1:11434"}
        response = await client.post("/api/llm/keys", json=body, headers=owner.headers)
        assert_problem(response, 422)


class TestPricing:
    """Issue 10, item 8: a model with no price is never counted as free under a cost limit."""

    async def test_a_cost_limit_on_an_unpriced_model_needs_the_keys_price(
        self, client: httpx.AsyncClient, vendor: RunningVendor
    ) -> None:
        owner = await register(client)
        body = {
            "provider": "openai_compatible",
            "label": "llama",
            "api_key": API_KEY,
            "base_url": vendor.url,
            "default_model": "llama3:8b",
            "monthly_cost_limit_micros": 1000,
        }
        refused = await client.post("/api/llm/keys", json=body, headers=owner.headers)
        assert "no list price" in assert_problem(refused, 422)["detail"]
        priced = {
            **body,
            "prompt_micros_per_million": 1_000_000,  # $1 per million tokens
            "completion_micros_per_million": 2_000_000,
        }
        created = await client.post("/api/llm/keys", json=priced, headers=owner.headers)
        assert created.status_code == 201, created.text
        assert created.json()["completion_micros_per_million"] == 2_000_000
        answer = (await ask(client, owner)).json()
        assert answer["cost_micros"] == 11 * 1 + 7 * 2

    async def test_a_request_for_an_unpriced_model_is_refused_under_a_cost_limit(
        self, client: httpx.AsyncClient, vendor: RunningVendor
    ) -> None:
        owner = await register(client)
        await add_key(client, owner, vendor, monthly_cost_limit_micros=1000)
        # It used to run and cost 0, whatever the model really costs.
        body = assert_problem(await ask(client, owner, model="o1-pro"), 503, "llm-unavailable")
        assert body["attempts"] == [
            {"provider": "openai_compatible:main", "outcome": "skipped:unpriced_model"}
        ]
        assert vendor.state.requests == []
        assert (await ask(client, owner, model="gpt-4o-mini")).status_code == 200

    async def test_without_a_cost_limit_an_unpriced_model_runs(
        self, client: httpx.AsyncClient, vendor: RunningVendor
    ) -> None:
        owner = await register(client)
        await add_key(client, owner, vendor, default_model="llama3:8b")
        answer = (await ask(client, owner)).json()
        assert (answer["model"], answer["cost_micros"]) == ("llama3:8b", 0)

    async def test_prices_come_in_pairs_and_updates_are_checked(
        self, client: httpx.AsyncClient, vendor: RunningVendor
    ) -> None:
        owner = await register(client)
        half = {**OPENAI, "prompt_micros_per_million": 5}
        response = await client.post("/api/llm/keys", json=half, headers=owner.headers)
        assert (
            assert_problem(response, 422)["errors"][0]["field"] == "body.prompt_micros_per_million"
        )
        created = await add_key(client, owner, vendor, default_model="llama3:8b")
        url = f"/api/llm/keys/{created['id']}"
        limited = await client.patch(
            url, headers=owner.headers, json={"monthly_cost_limit_micros": 10}
        )
        assert_problem(limited, 422)
        priced = await client.patch(
            url,
            headers=owner.headers,
            json={
                "monthly_cost_limit_micros": 10,
                "prompt_micros_per_million": 0,
                "completion_micros_per_million": 0,
            },
        )
        assert priced.status_code == 200, priced.text
        unpriced = await client.patch(
            url,
            headers=owner.headers,
            json={"prompt_micros_per_million": None, "completion_micros_per_million": None},
        )
        assert_problem(unpriced, 422)
        paused = await client.patch(url, headers=owner.headers, json={"active": False})
        assert paused.status_code == 200


class TestStoredBadKeys:
    """Issue 10, item 11: a key stored earlier with characters no header can carry fails its
    own call clearly; it used to raise UnicodeEncodeError (a 500, a crashed agent task)."""

    async def store_bad_secret(self, app: Any) -> None:
        async with app.state.context.sessions() as session:
            key = await session.scalar(select(ProviderKey))
            assert key is not None
            key.encrypted_key = app.state.context.secrets.encrypt("sk-ключ")
            await session.commit()

    async def test_the_completion_is_a_clear_503(
        self, client: httpx.AsyncClient, app: Any, vendor: RunningVendor
    ) -> None:
        owner = await register(client)
        await add_key(client, owner, vendor)
        await self.store_bad_secret(app)
        body = assert_problem(await ask(client, owner), 503, "llm-unavailable")
        assert body["attempts"] == [{"provider": "openai_compatible:main", "outcome": "rejected"}]
        assert vendor.state.requests == []

    async def test_the_agent_task_fails_with_the_reason(
        self, client: httpx.AsyncClient, app: Any, vendor: RunningVendor
    ) -> None:
        from intuitivus_flow.task_registry import worker_for
        from tests.agents.test_agents import create

        owner = await register(client)
        await add_key(client, owner, vendor)
        await self.store_bad_secret(app)
        agent = await create(client, owner, provider="openai_compatible")
        queued = await client.post(
            f"/api/agents/{agent['id']}/tasks", json={"prompt": "hi"}, headers=owner.headers
        )
        await worker_for(app.state.context, name="test-worker").run_until_idle()
        done = await client.get(f"/api/agents/tasks/{queued.json()['id']}", headers=owner.headers)
        assert done.json()["status"] == "failed"
        assert "rejected" in done.json()["error"]


async def test_max_tokens_is_bounded(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    response = await ask(client, owner, max_tokens=10**30)
    assert assert_problem(response, 422)["errors"][0]["field"] == "body.max_tokens"
