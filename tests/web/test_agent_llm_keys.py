"""After adding an LLM key, agents answer with it (issue 17): the agent form used to default
to the offline provider, whose canned reply then claimed that no key was configured."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from html import unescape
from pathlib import Path

import httpx
import pytest

from intuitivus_flow.app import create_app
from intuitivus_flow.config import Settings
from intuitivus_flow.kit import migrations
from intuitivus_flow.task_registry import worker_for
from tests.llm.vendor_server import API_KEY, RunningVendor, serve_vendor
from tests.web.browsing import Web, sign_up, submit, text_of

_PROVIDER_SELECT = re.compile(
    r'<select id="agent-provider" name="provider"[^>]*>(.*?)</select>', re.S
)
_OPTION = re.compile(r'<option value="([^"]*)"( selected)?>([^<]*)</option>')


@pytest.fixture
def vendor() -> Iterator[RunningVendor]:
    yield from serve_vendor()


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[Web]:
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db",
        seed_demo=False,
        outbound_allow=["127.0.0.1"],  # the fake vendor listens on loopback
    )
    app = create_app(settings)
    await migrations.upgrade(app.state.context.engine)
    yield Web(app)
    await app.state.context.close()


async def _provider_options(browser: httpx.AsyncClient) -> list[tuple[str, bool, str]]:
    found = _PROVIDER_SELECT.search((await browser.get("/agents")).text)
    assert found, "the agent form has a provider select"
    return [
        (value, bool(chosen), unescape(label))
        for value, chosen, label in _OPTION.findall(found.group(1))
    ]


async def _create_agent(browser: httpx.AsyncClient, name: str, provider: str) -> str:
    created = await submit(
        browser,
        "/agents",
        "/agents",
        {
            "name": name,
            "role": "Sales assistant",
            "system_prompt": "Be brief.",
            "provider": provider,
            "model": "",
            "temperature": "0.5",
            "max_tokens": "300",
        },
    )
    assert created.status_code == 303, text_of(created.text)
    return str(created.headers["location"]).split("?")[0]


async def _answer(web: Web, browser: httpx.AsyncClient, agent_url: str, prompt: str) -> str:
    queued = await submit(browser, agent_url, f"{agent_url}/tasks", {"prompt": prompt})
    assert queued.status_code == 303
    assert await worker_for(web.app.state.context).run_until_idle() == 1
    return text_of((await browser.get(agent_url)).text)


async def test_agents_use_the_workspace_keys_once_added(
    web: Web, browser: httpx.AsyncClient, vendor: RunningVendor
) -> None:
    await sign_up(browser)
    before = await _provider_options(browser)
    [(default, _, label)] = [option for option in before if option[1]]
    assert default == ""  # any key, by priority: never pinned to "offline"
    assert label == "Workspace keys in priority order (offline replies until a key is added)"
    assert ("offline", False, "Offline (canned replies, never a model)") in before

    added = await submit(
        browser,
        "/agents",
        "/agents/keys",
        {
            "provider": "openai_compatible",
            "label": "Main",
            "api_key": API_KEY,
            "base_url": vendor.url,
            "default_model": "gpt-4o-mini",
            "priority": "1",
            "monthly_token_limit": "",
        },
    )
    assert added.status_code == 303, text_of(added.text)
    after = await _provider_options(browser)
    assert [option for option in after if option[1]] == [
        ("", True, "Workspace keys in priority order")
    ]

    # The form as it comes: the agent answers with the key just added.
    agent_url = await _create_agent(browser, "Closer", default)
    page = await _answer(web, browser, agent_url, "Hello ACME")
    assert "openai says: Hello ACME" in page
    assert "No LLM key is configured" not in page


async def test_offline_replies_say_why_truthfully(
    web: Web, browser: httpx.AsyncClient, vendor: RunningVendor
) -> None:
    await sign_up(browser)
    no_key = await _answer(web, browser, await _create_agent(browser, "Any", ""), "one")
    assert "No LLM key is configured for this workspace, so this is a canned reply" in no_key

    await submit(
        browser,
        "/agents",
        "/agents/keys",
        {
            "provider": "openai_compatible",
            "label": "Main",
            "api_key": API_KEY,
            "base_url": vendor.url,
            "default_model": "gpt-4o-mini",
            "priority": "1",
            "monthly_token_limit": "",
        },
    )
    pinned = await _answer(web, browser, await _create_agent(browser, "Pinned", "offline"), "two")
    assert "The offline provider was chosen rather than the workspace's LLM keys" in pinned
    assert "No LLM key is configured" not in pinned

    other = await _answer(
        web, browser, await _create_agent(browser, "Claude", "anthropic"), "three"
    )
    assert "Only anthropic keys may answer and the workspace has no active anthropic key" in other
    assert "No LLM key is configured" not in other
