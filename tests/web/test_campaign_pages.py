"""The Campaigns pages: create, move through statuses, upload reports (bad rows listed,
nothing stored), the budget auto-pause and the chart, and the automation button."""

from __future__ import annotations

import httpx

from tests.web.browsing import csrf_from, sign_up, submit, text_of

GOOD_CSV = (
    "date,impressions,clicks,conversions,spend,revenue\n"
    "2026-10-01,1000,50,5,25.00,100.00\n"
    "2026-10-02,800,0,0,25.50,0\n"
)
BAD_CSV = "date,impressions,clicks,conversions,spend,revenue\n2026-10-01,lots,1,1,1.234,0\n"


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
    assert "No reports yet." in page
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
    html = (await browser.get(url)).text
    assert "<svg" in html
    assert "Spend and revenue per day" in html
    text = text_of(html)
    assert "Paused" in text
    assert "automatic" in text
    assert "budget_reached" in text
    assert "ROAS 1.98" in text
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
