"""The Campaigns pages: create, move through statuses, upload reports (bad rows listed,
nothing stored), the budget auto-pause and the chart, and the automation: audience and agent,
the step editor (add, edit, move, delete; errors next to their fields, nothing written),
conversions and deliveries, the daily-budget pause, and the campaign's settings (saved,
refused field by field with nothing written) and deletion."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from intuitivus_flow.campaigns.models import (
    Campaign,
    CampaignConversion,
    CampaignStep,
    CampaignStepDelivery,
)
from intuitivus_flow.contacts.models import Contact
from intuitivus_flow.events.models import Event
from intuitivus_flow.kit.db import SessionFactory, unit_of_work
from tests.web.browsing import BASE_URL, csrf_from, sign_up, submit, text_of

pytestmark = pytest.mark.slow

GOOD_CSV = (
    "date,impressions,clicks,conversions,spend,revenue\n"
    "2026-10-01,1000,50,5,25.00,100.00\n"
    "2026-10-02,800,0,0,25.50,0\n"
)
TABS = ("settings", "automation", "performance", "deliveries", "history")
BAD_CSV = "date,impressions,clicks,conversions,spend,revenue\n2026-10-01,lots,1,1,1.234,0\n"


def page_links(html: str, url: str) -> list[str]:
    """The tab bar's links (those under the campaign's own URL, in the campaign-sections nav)."""
    nav = html.split('aria-label="Campaign sections"')[1].split("</nav>")[0]
    return [part for part in nav.split('href="')[1:] if part.startswith(url)]


async def create(browser: httpx.AsyncClient, **fields: str) -> httpx.Response:
    values = {
        "name": "Black Friday",
        "platform": "google_ads",
        "currency": "usd",
        "total_budget": "50.00",
        "daily_budget": "",
        "starts_at": "2026-11-20",
        **fields,
    }
    return await submit(browser, "/campaigns", "/campaigns", values)


async def upload(browser: httpx.AsyncClient, url: str, content: str) -> httpx.Response:
    token = csrf_from((await browser.get(url)).text)
    return await browser.post(
        f"{url}/reports",
        data={"csrf_token": token},
        files={"file": ("report.csv", content.encode(), "text/csv")},
    )


async def test_campaign_lifecycle_in_the_browser(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    created = await create(browser)
    assert created.status_code == 303, created.text
    url = created.headers["location"].split("?")[0]
    page = text_of((await browser.get(created.headers["location"])).text)
    assert "created as a draft" in page
    assert "50.00 USD total" in page
    tabs = [link.split('"')[0] for link in page_links((await browser.get(url)).text, url)]
    assert tabs == [url, *(f"{url}/{tab}" for tab in TABS)]
    assert "No reports yet." in text_of((await browser.get(f"{url}/performance")).text)
    for status in ("scheduled", "active"):
        moved = await submit(browser, url, f"{url}/status", {"status": status})
        assert moved.status_code == 303
    refused = await upload(browser, url, BAD_CSV)
    assert refused.status_code == 422
    text = text_of(refused.text)
    assert "nothing was stored" in text
    assert "2 impressions" in text
    assert "2 spend" in text
    stored = await upload(browser, url, GOOD_CSV)
    assert stored.status_code == 303
    assert stored.headers["location"] == f"{url}/performance?done=report#performance-title"
    html = (await browser.get(f"{url}/performance")).text
    assert "<svg" in html
    assert "Spend and revenue per day" in html
    text = text_of((await browser.get(url)).text)
    assert "Paused" in text
    assert "automatic" in text
    assert "ROAS 1.98" in text
    assert "budget_reached" in text_of((await browser.get(f"{url}/history")).text)
    listing = text_of((await browser.get("/campaigns")).text)
    assert "Black Friday" in listing
    assert "50.50 USD" in listing


async def test_invalid_create_form_shows_errors(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    response = await create(browser, name="", total_budget="12.345")
    assert response.status_code == 422
    assert "Please correct" in text_of(response.text)


async def test_refused_actions_are_shown_on_the_page(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    url = (await create(browser, starts_at="")).headers["location"].split("?")[0]
    refused = await submit(browser, url, f"{url}/status", {"status": "scheduled"})
    assert refused.status_code == 422
    assert "Set starts_at" in text_of(refused.text)
    unknown = await submit(browser, url, f"{url}/status", {"status": "flying"})
    assert unknown.status_code == 404
    no_run = await submit(browser, url, f"{url}/automation/run", {})
    assert no_run.status_code == 422
    assert "activate it" in text_of(no_run.text)
    token = csrf_from((await browser.get(url)).text)
    empty = await browser.post(f"{url}/reports", data={"csrf_token": token})
    assert empty.status_code == 422
    assert "Choose a CSV or JSON file" in text_of(empty.text)


async def test_unknown_campaign_is_404(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    response = await browser.get("/campaigns/not-a-uuid")
    assert response.status_code == 404
    assert (await browser.get("/campaigns/not-a-uuid/settings")).status_code == 404
    url = (await create(browser)).headers["location"].split("?")[0]
    for tab in ("overview", "reports", "steps"):  # not tabs (reports and steps are posted to)
        assert (await browser.get(f"{url}/{tab}")).status_code in (404, 405), tab


async def test_each_tab_marks_itself_current(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    url = (await create(browser)).headers["location"].split("?")[0]
    headings = {
        "": "Status",
        "/settings": "Settings",
        "/automation": "Automation",
        "/performance": "Performance",
        "/deliveries": "Conversions and deliveries",
        "/history": "History",
    }
    for suffix, heading in headings.items():
        html = (await browser.get(f"{url}{suffix}")).text
        current = html.split('aria-current="page"')
        # The main navigation's Campaigns and this tab, nothing else.
        assert len(current) == 3, suffix
        assert current[1].rsplit("<a href=", 1)[1].startswith(f'"{url}{suffix}"'), suffix
        assert f">{heading}</h2>" in html, suffix


# --- automation: the step editor, audience, conversions, the daily budget ------------------
# These run on both engines: the browser talks to the shared `app` fixture (tests/conftest.py).

TEMPLATE_STEP = {
    "kind": "send_template",
    "template": "spring_offer",
    "language": "",
    "parameters": "20%\nFriday",
}


@pytest.fixture
async def shopper(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A browser against the run's SQLite and PostgreSQL databases."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


def sessions_of(app: Any) -> SessionFactory:
    factory: SessionFactory = app.state.context.sessions
    return factory


async def campaign_url(browser: httpx.AsyncClient, **fields: str) -> str:
    await sign_up(browser)
    created = await create(browser, **fields)
    assert created.status_code == 303, created.text
    return str(created.headers["location"].split("?")[0])


async def stored_steps(app: Any) -> list[CampaignStep]:
    async with sessions_of(app)() as session:
        rows = await session.scalars(select(CampaignStep).order_by(CampaignStep.position))
        return list(rows)


async def specs(app: Any) -> list[dict[str, Any]]:
    """The stored steps as settings, a branch's targets as the positions of its steps."""
    steps = await stored_steps(app)
    positions = {step.id: step.position for step in steps}
    return [
        {
            "kind": step.kind,
            **step.config,
            **(
                {
                    "if_true": positions.get(step.if_true_step_id),  # type: ignore[arg-type]
                    "if_false": positions.get(step.if_false_step_id),  # type: ignore[arg-type]
                }
                if step.kind == "branch"
                else {}
            ),
        }
        for step in steps
    ]


async def events_named(app: Any, name: str) -> list[Event]:
    async with sessions_of(app)() as session:
        rows = await session.scalars(
            select(Event).where(Event.name == name).order_by(Event.occurred_at)
        )
        return list(rows)


async def add_step(browser: httpx.AsyncClient, url: str, **fields: str) -> httpx.Response:
    return await submit(browser, url, f"{url}/steps", {"position": "", **fields})


async def test_step_editor_adds_edits_moves_and_deletes(
    shopper: httpx.AsyncClient, app: Any
) -> None:
    url = await campaign_url(shopper)
    added = await add_step(shopper, url, **TEMPLATE_STEP)
    assert added.status_code == 303, added.text
    assert added.headers["location"].endswith("?done=step-added#automation-title")
    assert "The step was added." in text_of((await shopper.get(added.headers["location"])).text)
    for fields in (
        {"kind": "wait", "duration": "2", "unit": "hours"},
        {"kind": "send_message", "text": "See you soon!"},
    ):
        assert (await add_step(shopper, url, **fields)).status_code == 303
    ids_before = [step.id for step in await stored_steps(app)]
    message_id = str(ids_before[2])
    # Inserted before step 3 (the message), continuing at the message.
    branch_fields = {"kind": "branch", "on": "reply", "if_true": message_id, "if_false": ""}
    assert (await add_step(shopper, url, **branch_fields, position="3")).status_code == 303
    stored = await stored_steps(app)
    assert [step.id for step in stored if step.kind != "branch"] == ids_before  # ids stay
    assert await specs(app) == [
        {
            "kind": "send_template",
            "template": "spring_offer",
            "language": "en",
            "parameters": ["20%", "Friday"],
        },
        {"kind": "wait", "seconds": 7200},
        {"kind": "branch", "on": "reply", "if_true": 4, "if_false": None},
        {"kind": "send_message", "text": "See you soon!"},
    ]
    page = text_of((await shopper.get(f"{url}/automation")).text)
    assert "Send template “spring_offer” (en)" in page
    assert "Wait 2 hours" in page
    assert "Branch: has the contact replied? yes → step 4, no → stop" in page

    wait = (await stored_steps(app))[1]
    edited = await submit(
        shopper,
        url,
        f"{url}/steps/{wait.id}",
        {"kind": "wait", "duration": "30", "unit": "minutes"},
    )
    assert edited.status_code == 303
    assert (await specs(app))[1] == {"kind": "wait", "seconds": 1800}

    template = (await stored_steps(app))[0]
    moved = await submit(shopper, url, f"{url}/steps/{template.id}/move", {"position": "2"})
    assert moved.status_code == 303
    assert [spec["kind"] for spec in await specs(app)] == [
        "wait",
        "send_template",
        "branch",
        "send_message",
    ]
    assert (await specs(app))[2]["if_true"] == 4  # still the message

    before = await specs(app)
    message, branch = (await stored_steps(app))[3], (await stored_steps(app))[2]
    backwards = await submit(shopper, url, f"{url}/steps/{message.id}/move", {"position": "3"})
    assert backwards.status_code == 422
    assert "The branch at step 4 would then continue at an earlier step" in text_of(backwards.text)
    in_use = await submit(shopper, url, f"{url}/steps/{message.id}/delete", {})
    assert in_use.status_code == 409
    assert "Step 3 (a branch) continues at this step" in text_of(in_use.text)
    assert await specs(app) == before  # refused edits write nothing

    assert (await submit(shopper, url, f"{url}/steps/{branch.id}/delete", {})).status_code == 303
    message = (await stored_steps(app))[2]
    assert (await submit(shopper, url, f"{url}/steps/{message.id}/delete", {})).status_code == 303
    assert [spec["kind"] for spec in await specs(app)] == ["wait", "send_template"]
    changes = [
        event.properties["change"] for event in await events_named(app, "campaign.steps_replaced")
    ]
    assert changes == ["added"] * 4 + ["edited", "moved", "deleted", "deleted"]


async def test_invalid_steps_show_field_errors_and_write_nothing(
    shopper: httpx.AsyncClient, app: Any
) -> None:
    url = await campaign_url(shopper)
    cases = [
        ({**TEMPLATE_STEP, "template": ""}, "add-send_template-template", "at least 1 character"),
        (
            {"kind": "wait", "duration": "soon", "unit": "hours"},
            "add-wait-duration",
            "whole number",
        ),
        (
            {"kind": "wait", "duration": "91", "unit": "days"},
            "add-wait-duration",
            "at most 90 days",
        ),
        ({"kind": "wait", "duration": "1", "unit": "weeks"}, "add-wait-unit", "Choose seconds"),
        ({"kind": "send_message", "text": "  "}, "add-send_message-text", "at least 1 character"),
        (
            {"kind": "branch", "on": "reply", "if_true": "1", "if_false": ""},
            "add-branch-if_true",
            "Choose a step after this one",
        ),
        ({"kind": "branch", "on": "mood", "if_true": "", "if_false": ""}, "add-branch-on", "reply"),
    ]
    for index, (fields, field_id, message) in enumerate(cases):
        if index == 5:  # a step to point back at
            assert (await add_step(shopper, url, **TEMPLATE_STEP)).status_code == 303
            (first,) = await stored_steps(app)
            fields = {**fields, "if_true": str(first.id)}
        refused = await add_step(shopper, url, **fields)
        assert refused.status_code == 422, fields
        html = refused.text
        assert f'id="{field_id}-error"' in html, fields
        error = html.split(f'id="{field_id}-error">')[1].split("</p>")[0]
        assert message in error, (fields, error)
        assert f'id="{field_id}"' in html
        assert 'aria-invalid="true"' in html
        assert "Please correct the highlighted fields." in text_of(html)
    assert len(await stored_steps(app)) == 1
    assert len(await events_named(app, "campaign.steps_replaced")) == 1

    (step,) = await stored_steps(app)
    bad_edit = await submit(
        shopper, url, f"{url}/steps/{step.id}", {**TEMPLATE_STEP, "language": "english"}
    )
    assert bad_edit.status_code == 422
    assert 'id="step-1-language-error"' in bad_edit.text
    assert 'value="english"' in bad_edit.text  # what was typed comes back
    assert "<details open>" in bad_edit.text
    other_kind = await submit(
        shopper, url, f"{url}/steps/{step.id}", {"kind": "send_message", "text": "x"}
    )
    assert other_kind.status_code == 422
    assert "keeps its kind" in text_of(other_kind.text)
    seen = (await stored_campaign(app)).steps_version
    await add_step(shopper, url, kind="send_message", text="second")  # from another page
    stale = await submit(shopper, url, f"{url}/steps/{step.id}/delete", {"version": str(seen)})
    assert stale.status_code == 409
    assert "changed since this page was loaded" in text_of(stale.text)
    not_a_target = await add_step(
        shopper, url, kind="branch", on="reply", if_true="step one", if_false=""
    )
    assert 'id="add-branch-if_true-error"' in not_a_target.text
    unknown = await add_step(shopper, url, kind="teleport")
    assert unknown.status_code == 404
    assert (await submit(shopper, url, f"{url}/steps/not-an-id/delete", {})).status_code == 404


async def test_conversions_are_recorded_from_the_page(shopper: httpx.AsyncClient, app: Any) -> None:
    url = await campaign_url(shopper)
    contact = await submit(
        shopper,
        "/contacts",
        "/contacts",
        {"name": "Ana", "phone": "+55 11 98765-4321", "email": "", "tags": "vip"},
    )
    assert contact.status_code == 303
    unknown = await submit(shopper, url, f"{url}/conversions", {"contact": "Nobody", "value": ""})
    assert unknown.status_code == 422
    assert 'id="conversion-contact-error"' in unknown.text
    assert "No contact matches" in text_of(unknown.text)
    bad_value = await submit(
        shopper, url, f"{url}/conversions", {"contact": "Ana", "value": "1.234"}
    )
    assert bad_value.status_code == 422
    assert 'id="conversion-value-error"' in bad_value.text
    assert await events_named(app, "campaign.conversion_recorded") == []

    recorded = await submit(
        shopper, url, f"{url}/conversions", {"contact": "+5511987654321", "value": "49.90"}
    )
    assert recorded.status_code == 303, recorded.text
    again = await submit(shopper, url, f"{url}/conversions", {"contact": "ana", "value": "5"})
    assert again.status_code == 303  # the first conversion stays
    assert recorded.headers["location"].startswith(f"{url}/deliveries?")
    page = text_of((await shopper.get(f"{url}/deliveries")).text)
    assert "Recent conversions" in page
    assert "Ana +5511987654321 49.90 USD" in page
    assert "5.00 USD" not in page
    (event,) = await events_named(app, "campaign.conversion_recorded")
    async with sessions_of(app)() as session:
        (conversion,) = (await session.scalars(select(CampaignConversion))).all()
    assert conversion.value_minor == 4990
    assert event.properties["contact_id"] == str(conversion.contact_id)


async def test_deliveries_are_listed_and_keep_their_step(
    shopper: httpx.AsyncClient, app: Any
) -> None:
    url = await campaign_url(shopper)
    await submit(
        shopper, "/contacts", "/contacts", {"name": "Ana", "phone": "", "email": "", "tags": ""}
    )
    await add_step(shopper, url, **TEMPLATE_STEP)
    (step,) = await stored_steps(app)
    async with unit_of_work(sessions_of(app)) as session:
        (contact,) = (await session.scalars(select(Contact))).all()
        session.add(
            CampaignStepDelivery(
                workspace_id=step.workspace_id,
                campaign_id=step.campaign_id,
                step_id=step.id,
                contact_id=contact.id,
                status="sent",
                detail={"message_id": "wamid.1"},
            )
        )
    page = text_of((await shopper.get(f"{url}/deliveries")).text)
    assert "Recent step deliveries" in page
    assert "1. send template Ana sent" in page
    html = (await shopper.get(f"{url}/automation")).text
    assert "done for 1 contact " in text_of(html)
    assert f"/steps/{step.id}/delete" not in html  # it stays with its history
    refused = await submit(shopper, url, f"{url}/steps/{step.id}/delete", {})
    assert refused.status_code == 409
    assert "Contacts already went through this step" in text_of(refused.text)
    # The automation goes on growing: a step after it, and the step itself edited.
    assert (await add_step(shopper, url, kind="send_message", text="More?")).status_code == 303
    edited = await submit(
        shopper, url, f"{url}/steps/{step.id}", {**TEMPLATE_STEP, "template": "autumn"}
    )
    assert edited.status_code == 303
    assert [spec.get("template") for spec in await specs(app)] == ["autumn", None]


async def test_audience_and_agent(shopper: httpx.AsyncClient, app: Any) -> None:
    url = await campaign_url(shopper)
    agent = await submit(
        shopper,
        "/agents",
        "/agents",
        {
            "name": "Closer",
            "role": "Sales assistant",
            "system_prompt": "Be brief.",
            "provider": "offline",
            "model": "",
            "temperature": "0.5",
            "max_tokens": "300",
        },
    )
    assert agent.status_code == 303, agent.text
    agent_id = agent.headers["location"].split("?")[0].rsplit("/", 1)[1]
    saved = await submit(
        shopper, url, f"{url}/audience", {"audience_tags": "vip, spring ,", "agent_id": agent_id}
    )
    assert saved.status_code == 303, saved.text
    html = (await shopper.get(f"{url}/automation")).text
    assert 'value="vip, spring"' in html
    assert f'<option value="{agent_id}" selected>Closer</option>' in html
    refusals: list[tuple[dict[str, str | list[str]], str]] = [
        ({"audience_tags": "", "agent_id": "not-an-id"}, "audience-agent_id"),
        ({"audience_tags": "x" * 61, "agent_id": ""}, "audience-audience_tags"),
    ]
    for fields, field_id in refusals:
        refused = await submit(shopper, url, f"{url}/audience", fields)
        assert refused.status_code == 422
        assert f'id="{field_id}-error"' in refused.text
    async with sessions_of(app)() as session:
        (campaign,) = (await session.scalars(select(Campaign))).all()
    assert (campaign.audience_tags, str(campaign.agent_id)) == (["vip", "spring"], agent_id)


async def test_daily_budget_pause_is_explained_and_can_be_kept(
    shopper: httpx.AsyncClient,
) -> None:
    url = await campaign_url(shopper, total_budget="500.00", daily_budget="10.00")
    for status in ("scheduled", "active"):
        assert (await submit(shopper, url, f"{url}/status", {"status": status})).status_code == 303
    today = datetime.now(UTC).date()
    csv = f"date,impressions,clicks,conversions,spend,revenue\n{today},100,5,1,10.00,0\n"
    assert (await upload(shopper, url, csv)).status_code == 303
    page = text_of((await shopper.get(url)).text)
    assert "Paused" in page
    assert "Spent today (UTC day): 10.00 USD" in page
    tomorrow = today + timedelta(days=1)
    assert f"It resumes by itself after {tomorrow} 00:00 UTC" in page
    history = text_of((await shopper.get(f"{url}/history")).text)
    assert f"daily_budget: spend 1000 on {today}" in history
    kept = await submit(shopper, url, f"{url}/status", {"status": "paused"})
    assert kept.status_code == 303
    assert "resumes by itself" not in text_of((await shopper.get(url)).text)
    history = text_of((await shopper.get(f"{url}/history")).text)
    assert "paused → paused (kept paused by a person)" in history


# --- settings and deletion -----------------------------------------------------------------

SETTINGS = {
    "name": "Cyber Monday",
    "total_budget": "1234.56",
    "daily_budget": "100",
    "starts_at": "2026-11-27",
    "ends_at": "2026-12-01",
    "countries": "us, BR",
    "languages": "en, pt_BR",
    "age_min": "18",
    "age_max": "65",
    "interests": "Running\n\nYoga ",
    "keywords": "",
}


async def stored_campaign(app: Any) -> Campaign:
    async with sessions_of(app)() as session:
        (campaign,) = (await session.scalars(select(Campaign))).all()
        return campaign


def field_error(html: str, field_id: str) -> str:
    assert f'id="{field_id}-error"' in html, field_id
    return html.split(f'id="{field_id}-error">')[1].split("</p>")[0]


async def test_settings_are_saved(shopper: httpx.AsyncClient, app: Any) -> None:
    url = await campaign_url(shopper)
    html = (await shopper.get(f"{url}/settings")).text
    assert 'id="settings-total_budget" name="total_budget" type="text" value="50.00"' in html
    saved = await submit(
        shopper, url, f"{url}/settings", {**SETTINGS, "genders": ["female", "other"]}
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"].endswith("?done=settings#settings-title")
    html = (await shopper.get(saved.headers["location"])).text
    assert "The settings were saved." in text_of(html)
    assert "<h1>Cyber Monday" in html
    for shown in ("1234.56", "100.00", "2026-11-27", "2026-12-01", "US, BR", "en, pt_BR", "18"):
        assert f'value="{shown}"' in html, shown
    assert 'value="female" checked' in html
    assert 'value="male">' in html
    assert "Running\nYoga</textarea>" in html
    overview = text_of((await shopper.get(url)).text)
    assert "1,234.56 USD total, 100.00 USD a day" in overview

    campaign = await stored_campaign(app)
    assert (campaign.total_budget_minor, campaign.daily_budget_minor) == (123456, 10000)
    assert campaign.starts_at == datetime(2026, 11, 27, tzinfo=UTC)
    assert campaign.ends_at == datetime(2026, 12, 1, tzinfo=UTC)
    assert campaign.targeting == {
        "countries": ["US", "BR"],
        "languages": ["en", "pt_BR"],
        "age_min": 18,
        "age_max": 65,
        "genders": ["female", "other"],
        "interests": ["Running", "Yoga"],
        "keywords": [],
    }
    assert campaign.creatives == []  # edited by their own form
    (event,) = await events_named(app, "campaign.updated")
    assert "total_budget_minor" in event.properties["changed"]

    # A time of day set through the API survives saving the form with the same date;
    # emptied fields remove the budget, the end and the targeting.
    async with unit_of_work(sessions_of(app)) as session:
        row = await session.get(Campaign, campaign.id)
        assert row is not None
        row.starts_at = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
    cleared = {
        **dict.fromkeys(SETTINGS, ""),
        "name": "Cyber Monday",
        "starts_at": "2026-11-27",
    }
    assert (await submit(shopper, url, f"{url}/settings", cleared)).status_code == 303
    campaign = await stored_campaign(app)
    assert campaign.starts_at == datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
    assert (campaign.total_budget_minor, campaign.daily_budget_minor, campaign.ends_at) == (
        None,
        None,
        None,
    )
    assert campaign.creatives == []
    assert campaign.targeting["countries"] == []


async def test_invalid_settings_show_field_errors_and_write_nothing(
    shopper: httpx.AsyncClient, app: Any
) -> None:
    url = await campaign_url(shopper)
    before = await stored_campaign(app)
    cases: list[tuple[dict[str, str], str, str]] = [
        ({"name": " "}, "settings-name", "at least 1 character"),
        ({"total_budget": "12.345"}, "settings-total_budget", "At most 2 decimal places in USD"),
        ({"daily_budget": "lots"}, "settings-daily_budget", "Must be a number"),
        ({"total_budget": "-1"}, "settings-total_budget", "non-negative"),
        ({"daily_budget": "60"}, "settings-daily_budget", "cannot exceed the total budget"),
        ({"ends_at": "2026-11-20"}, "settings-ends_at", "must end after it starts"),
        ({"starts_at": "2026-02-30"}, "settings-starts_at", "valid datetime"),
        ({"countries": "USA"}, "settings-countries", "two-letter country codes"),
        ({"languages": "English"}, "settings-languages", "e.g. en, pt_BR"),
        ({"age_min": "40", "age_max": "30"}, "settings-age_max", "must not be below"),
        ({"age_min": "9" * 5000}, "settings-age_min", "integer"),
        ({"age_max": "old"}, "settings-age_max", "valid integer"),
        ({"interests": "x" * 121}, "settings-interests", "at most 120 characters"),
    ]
    for changes, field_id, message in cases:
        fields = {**SETTINGS, "total_budget": "50", "daily_budget": "", **changes}
        refused = await submit(shopper, url, f"{url}/settings", fields)
        assert refused.status_code == 422, changes
        html = refused.text
        assert message in field_error(html, field_id), (changes, field_error(html, field_id))
        assert 'aria-invalid="true"' in html
        assert "Please correct the highlighted fields." in text_of(html)

    # Every field's problem at once, and long text comes back whole to be fixed.
    long_text = "Running\n" + "b" * 2000
    fields = {**SETTINGS, "total_budget": "1.001", "countries": "Brazil", "interests": long_text}
    refused = await submit(shopper, url, f"{url}/settings", fields)
    assert refused.status_code == 422
    for field_id in ("settings-total_budget", "settings-countries", "settings-interests"):
        field_error(refused.text, field_id)
    assert f"{long_text}</textarea>" in refused.text
    assert 'value="Cyber Monday"' in refused.text  # what was typed comes back

    after = await stored_campaign(app)
    assert (after.name, after.total_budget_minor, after.targeting, after.creatives) == (
        before.name,
        before.total_budget_minor,
        before.targeting,
        before.creatives,
    )
    assert await events_named(app, "campaign.updated") == []

    assert (await submit(shopper, url, f"{url}/status", {"status": "cancelled"})).status_code == 303
    page = text_of((await shopper.get(f"{url}/settings")).text)
    assert "its settings can no longer change" in page
    final = await submit(shopper, url, f"{url}/settings", SETTINGS)
    assert final.status_code == 409
    assert "can no longer be changed" in text_of(final.text)


async def test_campaign_is_deleted_from_its_page(shopper: httpx.AsyncClient, app: Any) -> None:
    url = await campaign_url(shopper)
    for status in ("scheduled", "active"):
        assert (await submit(shopper, url, f"{url}/status", {"status": status})).status_code == 303
    page = (await shopper.get(f"{url}/settings")).text
    assert f'action="{url}/delete"' not in page
    assert "Pause or cancel the campaign before deleting it" in text_of(page)
    refused = await submit(shopper, url, f"{url}/delete", {})
    assert refused.status_code == 409
    assert "Pause or cancel the campaign before deleting it" in text_of(refused.text)
    assert await stored_campaign(app)

    assert (await submit(shopper, url, f"{url}/status", {"status": "paused"})).status_code == 303
    page = (await shopper.get(f"{url}/settings")).text
    assert f'action="{url}/delete" data-confirm="Delete Black Friday' in page

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as stranger:
        await sign_up(stranger, email="other@example.com", workspace="Other Shop")
        token = csrf_from((await stranger.get("/campaigns")).text)
        assert (await stranger.get(url)).status_code == 404
        for tab in ("", *(f"/{name}" for name in TABS)):
            assert (await stranger.get(f"{url}{tab}")).status_code == 404, tab
        creatives = {"count": "1", **group(0, HERO)}
        for action, fields in (
            (f"{url}/delete", {}),
            (f"{url}/settings", SETTINGS),
            (f"{url}/creatives", creatives),
        ):
            response = await stranger.post(action, data={"csrf_token": token, **fields})
            assert response.status_code == 404, action
    assert (await stored_campaign(app)).name == "Black Friday"
    assert (await stored_campaign(app)).creatives == []

    deleted = await submit(shopper, url, f"{url}/delete", {})
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/campaigns?done=deleted"
    listing = text_of((await shopper.get(deleted.headers["location"])).text)
    assert "The campaign was deleted." in listing
    assert "Black Friday" not in listing
    async with sessions_of(app)() as session:
        assert (await session.scalars(select(Campaign))).all() == []
    assert len(await events_named(app, "campaign.deleted")) == 1
    assert (await shopper.get(url)).status_code == 404


# --- creatives as fields -------------------------------------------------------------------

HERO = {
    "format": "image",
    "name": "Hero",
    "headline": "Spring sale",
    "body": "Everything 20% off.",
    "call_to_action": "Shop now",
    "landing_url": "https://example.com/sale",
    "media_url": "https://cdn.example.com/hero.png",
}
OFFER = {
    "format": "whatsapp_template",
    "name": "Offer",
    "body": "Hi {{1}}, {{2}} off until Friday",
    "template_name": "spring_offer",
    "template_language": "pt_BR",
    "template_variables": "Ana\n20%\n",
}


def group(index: int, fields: dict[str, str]) -> dict[str, str | list[str]]:
    return {f"creative-{index}-{name}": value for name, value in fields.items()}


def preview_of(html: str, index: int) -> str:
    figure = html.split(f'data-creative-preview="creative-{index}-"')[1].split("</figure>")[0]
    return text_of(figure.split(">", 1)[1])


async def test_creatives_are_edited_as_fields_with_a_preview(
    shopper: httpx.AsyncClient, app: Any
) -> None:
    url = await campaign_url(shopper)
    page = f"{url}/settings"
    html = (await shopper.get(page)).text
    assert 'name="creative-0-headline"' in html  # the empty group, to add the first
    assert "New creative" in html
    assert "No image or video yet" in preview_of(html, 0)

    # Preview: checked and shown as typed, nothing saved.
    fields = {"count": "1", "intent": "preview", **group(0, HERO)}
    shown = await submit(shopper, page, f"{url}/creatives", fields)
    assert shown.status_code == 200, text_of(shown.text)
    assert "nothing was saved yet" in text_of(shown.text)
    preview = preview_of(shown.text, 0)
    for part in ("Image from cdn.example.com", "Spring sale", "Everything 20% off.", "Shop now"):
        assert part in preview, part
    assert "example.com" in preview
    assert (await stored_campaign(app)).creatives == []

    saved = await submit(
        shopper, page, f"{url}/creatives", {"count": "2", **group(0, HERO), **group(1, OFFER)}
    )
    assert saved.status_code == 303, text_of(saved.text)
    assert saved.headers["location"] == f"{page}?done=creatives#creatives-title"
    assert (await stored_campaign(app)).creatives == [
        HERO,
        {
            **{key: value for key, value in OFFER.items() if key != "template_variables"},
            "template_variables": ["Ana", "20%"],
        },
    ]
    html = (await shopper.get(saved.headers["location"])).text
    assert "The creatives were saved." in text_of(html)
    assert "Creative 1: Hero" in text_of(html)
    assert 'value="https://example.com/sale"' in html
    assert "Ana\n20%</textarea>" in html
    offer = preview_of(html, 1)
    assert "Hi Ana, 20% off until Friday" in offer
    assert "Template spring_offer (pt_BR)" in offer
    assert 'name="creative-2-name"' in html  # an empty group for the next one
    assert 'src="/static/campaign_creatives.js' in html
    assert "campaign_creatives.js" not in (await shopper.get(url)).text  # only where needed
    assert "Hero, Offer" in text_of((await shopper.get(url)).text)  # the overview names them

    # Removing one keeps the other; the API reads back what the page saved.
    kept = await submit(
        shopper,
        page,
        f"{url}/creatives",
        {"count": "3", **group(0, {**HERO, "remove": "1"}), **group(1, OFFER)},
    )
    assert kept.status_code == 303
    assert [item["name"] for item in (await stored_campaign(app)).creatives] == ["Offer"]


async def test_invalid_creatives_show_field_errors_and_write_nothing(
    shopper: httpx.AsyncClient, app: Any
) -> None:
    url = await campaign_url(shopper)
    page = f"{url}/settings"
    cases: list[tuple[dict[str, str], str, str]] = [
        ({"landing_url": "example.com/sale"}, "landing_url", "full address starting with https"),
        ({"media_url": "http://127.0.0.1/a.png"}, "media_url", "127.0.0.1 is not a public"),
        ({"media_url": "https://localhost/a.png"}, "media_url", "localhost is not a public"),
        ({"landing_url": "http://[::1]/x"}, "landing_url", "is not a public address"),
        ({"format": "poster"}, "format", "Choose one of the formats"),
        ({"name": ""}, "name", "at least 1 character"),
        ({"headline": "h" * 151}, "headline", "at most 150 characters"),
        ({"call_to_action": "c" * 41}, "call_to_action", "at most 40 characters"),
        ({**OFFER, "template_name": ""}, "template_name", "Enter the name of an approved"),
        ({**OFFER, "template_name": "Spring Offer"}, "template_name", "lower-case letters"),
        ({**OFFER, "template_variables": "Ana"}, "template_variables", "{{2}}: enter 2 values"),
        ({**OFFER, "template_language": "Portuguese"}, "template_language", "match pattern"),
    ]
    for changes, field, message in cases:
        fields = group(0, {**HERO, **changes})
        refused = await submit(shopper, page, f"{url}/creatives", {"count": "1", **fields})
        assert refused.status_code == 422, changes
        html = refused.text
        assert message in field_error(html, f"creative-0-{field}"), (changes, html)
        assert 'aria-invalid="true"' in html
        assert "Please correct the highlighted fields." in text_of(html)
    # Every group's problems at once; what was typed comes back whole, even in preview.
    long_body = "b" * 4000
    fields = {
        "count": "2",
        "intent": "preview",
        **group(0, {**HERO, "landing_url": "nope", "body": long_body}),
        **group(1, {**OFFER, "template_name": ""}),
    }
    refused = await submit(shopper, page, f"{url}/creatives", fields)
    assert refused.status_code == 422
    field_error(refused.text, "creative-0-landing_url")
    field_error(refused.text, "creative-1-template_name")
    assert f">{long_body}</textarea>" in refused.text
    assert (await stored_campaign(app)).creatives == []
    assert await events_named(app, "campaign.updated") == []
    # A forged count or a missing one is simply no creatives.
    forged = await submit(shopper, page, f"{url}/creatives", {"count": "99999"})
    assert forged.status_code == 303
    assert (await stored_campaign(app)).creatives == []
