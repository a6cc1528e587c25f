"""End to end: a new agency's first journeys through the product, in Debian's headless Chromium.

One real server process (SQLite in a scratch data folder, the embedded worker) and one browser
serve the whole module; the tests run in order and each picks up where the last one stopped,
as a person would: sign up; add an LLM key and create an agent; connect WhatsApp; watch a
message arrive in the inbox and answer it; see a request for a person escalate and counted in
the sidebar; import contacts from CSV (dry run, real run, wrong columns); build and run a
campaign; pay an invoice through Stripe Checkout; reset the password from an e-mailed link.

The outside world is simulated on loopback only: Meta's Graph API and an OpenAI-compatible
vendor speak their wire formats (tests/conversations/graph_server.py, tests/llm/vendor_server.py),
Meta's webhooks are posted with a valid signature, a real SMTP server (aiosmtpd) receives the
mail, and a fake Stripe answers the API while the browser's visit to Stripe's hosted page is
answered by the test. Every page visited is saved as a full-page 1366x900 screenshot to
$FLOW_E2E_ARTIFACTS/journeys (else the module's temporary folder).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import FilePayload, Page, Route, async_playwright, expect

from intuitivus_flow.conversations.channels.whatsapp import sign
from tests.alerts_engine.receivers import smtp_receiver
from tests.billing.stripe_server import API_KEY as STRIPE_KEY
from tests.billing.stripe_server import RunningStripe, serve_stripe
from tests.conversations.graph_server import ACCESS_TOKEN, RunningGraph, serve_graph
from tests.conversations.support import inbound_body
from tests.e2e.servers import running_flow
from tests.e2e.test_signup_signin import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LOOPBACK_HOSTS,
    PASSWORD,
    TIMEOUT_MS,
    _require_chromium,
)
from tests.llm.vendor_server import API_KEY as VENDOR_KEY
from tests.llm.vendor_server import RunningVendor, serve_vendor

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EMAIL = "journey.owner@example.com"
WORKSPACE = "Northwind Agency"
NEW_PASSWORD = "a brand new passphrase"
APP_SECRET = "journey-app-secret-0123"
PHONE_NUMBER_ID = "106540352242922"
CUSTOMER = "5511987654321"
WEBHOOK = "/api/channels/whatsapp/webhook"
CHECKOUT_HOST = "checkout.stripe.test"
RESET_LINK = re.compile(r"https?://[^/\s]+(/reset-password\?token=[\w-]+)")
LIVE_MS = 30_000  # the embedded worker and the LLM round trip on a loaded machine
CSV = (
    "name,phone,email,whatsapp_opt_in\n"
    "Ana,+5511987650001,ana@example.com,yes\n"
    "Bruno,+5511987650002,,\n"
)


@dataclass
class World:
    """The app and the outside services it talks to, all on loopback."""

    url: str
    database: Path
    graph: RunningGraph
    vendor: RunningVendor
    stripe: RunningStripe
    mail: list[Message]
    shots: Path


@dataclass
class Journey:
    page: Page
    world: World
    requested: list[str] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)

    async def shot(self, name: str) -> None:
        """A full-page screenshot, numbered in the order pages were seen."""
        path = self.world.shots / f"{len(self.taken) + 1:02d}-{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        self.taken.append(path.name)

    async def visit(self, path: str, name: str) -> None:
        response = await self.page.goto(path)
        assert response is not None, path
        assert response.status < 500, f"{path}: {response.status}"
        await self.shot(name)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    _require_chromium()
    folder = tmp_path_factory.mktemp("journeys")
    shots = Path(os.environ.get("FLOW_E2E_ARTIFACTS", folder)) / "journeys"
    shots.mkdir(parents=True, exist_ok=True)
    for old in shots.glob("*.png"):
        old.unlink()
    with ExitStack() as outside:
        graph = outside.enter_context(contextmanager(serve_graph)())
        vendor = outside.enter_context(contextmanager(serve_vendor)())
        stripe = outside.enter_context(contextmanager(serve_stripe)())
        smtp_port, mail = outside.enter_context(smtp_receiver())
        outside_world = {
            # The fake vendor, Graph API and Stripe listen on loopback.
            "FLOW_OUTBOUND_ALLOW": "127.0.0.1",
            "FLOW_WHATSAPP_GRAPH_URL": graph.url,
            "FLOW_SMTP_HOST": "127.0.0.1",
            "FLOW_SMTP_PORT": str(smtp_port),
            "FLOW_SMTP_STARTTLS": "false",
            "FLOW_STRIPE_API_KEY": STRIPE_KEY,
            "FLOW_STRIPE_API_BASE": stripe.url,
            "FLOW_STRIPE_CHECKOUT_ORIGIN": f"https://{CHECKOUT_HOST}",
        }
        url = outside.enter_context(running_flow(folder, outside_world))
        database = folder / "data" / "flow.db"
        yield World(url, database, graph, vendor, stripe, mail, shots)


@pytest.fixture(scope="module")
async def journey(world: World) -> AsyncIterator[Journey]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(
                base_url=world.url, viewport={"width": 1366, "height": 900}
            )
            context.set_default_timeout(TIMEOUT_MS)
            page = await context.new_page()
            journey = Journey(page, world)
            context.on("request", lambda request: journey.requested.append(request.url))
            page.on("console", lambda message: journey.console.append(message.text))
            yield journey
        finally:
            await browser.close()


def rows(world: World, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
    """Read the server's database directly: proof that a refused form wrote nothing."""
    with sqlite3.connect(world.database, timeout=10) as connection:
        return list(connection.execute(sql, parameters))


def count(world: World, table: str) -> int:
    return int(rows(world, f"SELECT count(*) FROM {table}")[0][0])  # fixed table names only


def from_meta(world: World, text: str) -> None:
    """What Meta posts when the customer writes to the connected number, validly signed."""
    raw = json.dumps(inbound_body(PHONE_NUMBER_ID, text=text, sender=CUSTOMER)).encode()
    answer = httpx.post(
        f"{world.url}{WEBHOOK}",
        content=raw,
        headers={"X-Hub-Signature-256": sign(raw, APP_SECRET), "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


async def wait_for(
    condition: Callable[[], bool], what: str, seconds: float = LIVE_MS / 1000
) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}", pytrace=False)
        await asyncio.sleep(0.1)


def reset_link(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    found = RESET_LINK.search(payload.decode())
    assert found, payload
    return found.group(1)


async def test_sign_up(journey: Journey) -> None:
    page, url = journey.page, journey.world.url
    await journey.visit("/signup", "signup")
    await page.get_by_label("Email").fill(EMAIL)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("Your name").fill("Nina Northwind")
    await page.get_by_label("Workspace name").fill(WORKSPACE)
    await page.get_by_role("button", name="Create workspace").click()
    await page.wait_for_url(f"{url}/")
    await expect(page.get_by_role("heading", level=1)).to_have_text(WORKSPACE)
    await journey.shot("dashboard")


async def test_add_an_llm_key_and_create_an_agent(journey: Journey) -> None:
    page, world = journey.page, journey.world
    await page.get_by_role("link", name="Agents", exact=True).first.click()
    await page.wait_for_url(f"{world.url}/agents")
    await journey.shot("agents")

    await page.locator("#key-provider").select_option("openai_compatible")
    await page.locator("#key-label").fill("Main")
    await page.locator("#key-api_key").fill(VENDOR_KEY)
    await page.locator("#key-base_url").fill(world.vendor.url)
    await page.locator("#key-default_model").fill("gpt-4o-mini")
    await page.locator("#key-priority").fill("1")
    await page.get_by_role("button", name="Add key").click()
    keys = page.get_by_role("region", name="LLM provider keys")
    await expect(keys.get_by_role("cell", name="Main", exact=True)).to_be_visible()
    # The key is kept encrypted and never shown again.
    assert VENDOR_KEY not in await page.content()
    await journey.shot("agents-key-added")

    await page.locator("#agent-name").fill("Ana")
    await page.locator("#agent-role").fill("Sales assistant for bike repairs")
    await page.locator("#agent-system_prompt").fill("Be brief and friendly.")
    await page.get_by_role("button", name="Create agent").click()
    await page.wait_for_url(re.compile(r"/agents/[0-9a-f-]{36}"))
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Ana")
    journey.state["agent_url"] = urlsplit(page.url).path
    await journey.shot("agent")

    # A prompt's answer appears on the agent's page without a reload: the vendor takes 3 s, so
    # the page first shows the task in progress, and its section is swapped when it finishes.
    world.vendor.state.modes["openai"] = "slow"
    try:
        await page.locator("#task-prompt").fill("Say hello to the team")
        await page.get_by_role("button", name="Run", exact=True).click()
        tasks = page.locator("#agent-tasks")
        await expect(tasks).to_contain_text("in progress")
        loaded = await page.evaluate("performance.timeOrigin")
        await expect(tasks).to_contain_text("openai says:", timeout=LIVE_MS)
        await expect(tasks).not_to_contain_text("in progress")
        statistics = page.locator("#agent-statistics")
        await expect(statistics).to_contain_text(re.compile(r"Succeeded\s*1"))
        assert await page.evaluate("performance.timeOrigin") == loaded, "the page was reloaded"
    finally:
        world.vendor.state.modes.pop("openai", None)
    await journey.shot("agent-task-answered")


async def test_connect_whatsapp(journey: Journey) -> None:
    page, world = journey.page, journey.world
    await page.get_by_role("link", name="Channels", exact=True).first.click()
    await page.wait_for_url(f"{world.url}/channels")
    await journey.shot("channels")
    await page.get_by_role("link", name="Connect WhatsApp").click()
    await page.locator("#number-phone_number_id").fill(PHONE_NUMBER_ID)
    await page.locator("#number-display_number").fill("+55 11 91234-5678")
    await page.locator("#number-access_token").fill(ACCESS_TOKEN)
    await page.locator("#number-app_secret").fill(APP_SECRET)
    await page.locator("#number-verify_token").fill("journey-verify-token")
    await page.locator("#number-agent_id").select_option(label="Ana")
    await page.get_by_role("button", name="Connect number").click()
    numbers = page.get_by_role("region", name="WhatsApp numbers")
    await expect(numbers).to_contain_text("+55 11 91234-5678")
    html = await page.content()
    for secret in (ACCESS_TOKEN, APP_SECRET, "journey-verify-token"):
        assert secret not in html
    # Before connecting, the Graph API was asked whether the token can read the number.
    assert PHONE_NUMBER_ID in world.graph.state.reads
    await journey.shot("channels-connected")


async def test_a_message_arrives_live_and_is_answered_in_the_inbox(journey: Journey) -> None:
    page, world = journey.page, journey.world
    await page.get_by_role("link", name=re.compile(r"^Inbox")).first.click()
    await page.wait_for_url(re.compile(r"/inbox"))
    await journey.shot("inbox-empty")
    listing = page.locator("#inbox-list")

    # The customer writes on WhatsApp: the conversation appears without a reload.
    from_meta(world, "Hello, do you repair e-bikes?")
    await expect(listing).to_contain_text("Maria", timeout=LIVE_MS)
    await listing.get_by_role("link", name=re.compile("Maria")).first.click()
    thread = page.locator("[data-thread]")
    await expect(thread).to_contain_text("Hello, do you repair e-bikes?")
    # The agent answers through the workspace's key (the fake vendor echoes the prompt).
    await expect(thread).to_contain_text("openai says:", timeout=LIVE_MS)
    await journey.shot("inbox-conversation")

    # A person answers from the inbox; it goes out to WhatsApp.
    await page.get_by_label("Your reply").fill("Yes, bring it in any weekday.")
    await page.get_by_role("form", name="Reply").get_by_role("button", name="Send").click()
    await expect(thread).to_contain_text("Yes, bring it in any weekday.")
    await wait_for(
        lambda: any(
            body.get("text", {}).get("body") == "Yes, bring it in any weekday."
            for _, _, body in world.graph.state.sent
        ),
        "the reply to reach the Graph API",
    )

    # The next message from the customer appears in the open thread, still without a reload.
    from_meta(world, "Great, how long does it take?")
    await expect(thread).to_contain_text("Great, how long does it take?", timeout=LIVE_MS)
    await journey.shot("inbox-answered")


async def test_asking_for_a_person_escalates_and_is_counted(journey: Journey) -> None:
    page, world = journey.page, journey.world
    from_meta(world, "I want to talk to a human, please")
    await expect(page.locator("[data-thread]")).to_contain_text(
        "I want to talk to a human", timeout=LIVE_MS
    )
    await expect(page.locator("#inbox-list").get_by_text("Escalated")).to_be_visible(
        timeout=LIVE_MS
    )
    await journey.shot("inbox-escalated")

    await page.reload()
    await expect(page.get_by_role("note")).to_contain_text("Needs attention")
    inbox_link = page.get_by_role("navigation").get_by_role("link", name=re.compile(r"^Inbox"))
    await expect(inbox_link.first).to_contain_text("1 escalated")
    await journey.shot("inbox-escalated-sidebar")


async def test_import_contacts_from_csv(journey: Journey) -> None:
    page, world = journey.page, journey.world
    before = count(world, "contacts")
    await journey.visit("/contacts", "contacts")
    await page.get_by_role("link", name=re.compile("Import")).first.click()
    await page.wait_for_url(f"{world.url}/contacts/import")
    await journey.shot("contacts-import")

    async def upload(content: str, *, dry_run: bool) -> None:
        await page.locator("#import-file").set_input_files(
            files=FilePayload(name="people.csv", mimeType="text/csv", buffer=content.encode())
        )
        await page.get_by_label("Tag every imported contact with").fill("fair")
        await page.get_by_label("Dry run: check and report only, write nothing").set_checked(
            dry_run
        )
        await page.get_by_role("button", name="Import", exact=True).click()

    await upload(CSV, dry_run=True)
    report = page.get_by_role("region", name="Dry run report")
    await expect(page.get_by_role("status").first).to_contain_text("Dry run: nothing was written.")
    await expect(report).to_contain_text("2 row(s): 2 would be created")
    assert count(world, "contacts") == before
    await journey.shot("contacts-import-dry-run")

    await upload(CSV, dry_run=False)
    await expect(page.get_by_role("status").first).to_contain_text(
        "Imported: 2 created, 0 updated, 0 unchanged."
    )
    assert count(world, "contacts") == before + 2
    await journey.shot("contacts-imported")

    # Wrong columns: a clear message, and nothing is written.
    await upload("nome,telefone\nCarla,+5511987650003\n", dry_run=False)
    await expect(page.get_by_role("main")).to_contain_text("unknown column")
    assert count(world, "contacts") == before + 2
    await journey.shot("contacts-import-wrong-columns")

    await journey.visit("/contacts?tag=fair", "contacts-tagged")
    listed = page.get_by_role("main")
    await expect(listed).to_contain_text("Ana")
    await expect(listed).to_contain_text("Bruno")
    await expect(listed).not_to_contain_text("Carla")


async def test_build_and_run_a_campaign(journey: Journey) -> None:
    page, world = journey.page, journey.world
    await page.get_by_role("link", name="Campaigns", exact=True).first.click()
    await page.wait_for_url(f"{world.url}/campaigns")
    await journey.shot("campaigns")
    await page.locator("#campaign-name").fill("Spring repairs")
    await page.locator("#campaign-total_budget").fill("500.00")
    await page.locator("#campaign-starts_at").fill(date.today().isoformat())
    await page.get_by_role("button", name="Create campaign").click()
    await page.wait_for_url(re.compile(r"/campaigns/[0-9a-f-]{36}"))
    campaign_url = urlsplit(page.url).path
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Spring repairs")
    await journey.shot("campaign-created")

    await page.get_by_role("button", name="Schedule", exact=True).click()
    await page.get_by_role("button", name="Activate", exact=True).click()
    # Active now: the status panel offers to pause it.
    await expect(page.get_by_role("button", name="Pause", exact=True)).to_be_visible()
    await journey.shot("campaign-active")

    tabs = page.get_by_role("navigation", name="Campaign sections")
    await tabs.get_by_role("link", name="Audience and steps").click()
    await page.wait_for_url(f"{world.url}{campaign_url}/automation")
    await page.locator("#audience-audience_tags").fill("fair")
    await page.get_by_role("button", name="Save audience").click()
    await page.get_by_text("Send a WhatsApp template", exact=True).click()
    step = page.get_by_role("form", name="Send a WhatsApp template")
    await step.get_by_label("Template name").fill("spring_offer")
    await step.get_by_role("button", name="Add step").click()
    await expect(page.get_by_role("main")).to_contain_text("spring_offer")
    await journey.shot("campaign-automation")

    await page.get_by_role("button", name="Run automation").click()
    await expect(page.get_by_role("status").first).to_contain_text("The automation is running")
    await journey.shot("campaign-running")

    # Ana opted in and gets the template; Bruno's consent is unknown, so he gets nothing.
    def templates() -> list[str]:
        sent = world.graph.state.sent
        return [body["to"] for _, _, body in sent if body.get("type") == "template"]

    await wait_for(lambda: bool(templates()), "the campaign's template to reach the Graph API")
    await asyncio.sleep(1)  # a wrongly sent second template would have left by now
    assert templates() == ["5511987650001"]
    await tabs.get_by_role("link", name="Deliveries").click()
    await expect(page.get_by_role("main")).to_contain_text("Ana")
    await journey.shot("campaign-deliveries")


async def test_pay_an_invoice(journey: Journey) -> None:
    page, world = journey.page, journey.world

    async def stripe_hosted_page(route: Route) -> None:
        # Stripe's own Checkout page, which the test stands in for: never fetched for real.
        await route.fulfill(
            content_type="text/html",
            body="<!doctype html><title>Stripe Checkout</title><h1>Pay Northwind Agency</h1>",
        )

    await page.route(f"https://{CHECKOUT_HOST}/**", stripe_hosted_page)
    await page.get_by_role("link", name="Billing", exact=True).first.click()
    await page.wait_for_url(f"{world.url}/billing")
    await journey.shot("billing")
    await page.locator("#f-plan").select_option("pro")
    await page.get_by_role("button", name="Change plan").click()
    pay = page.get_by_role("button", name=re.compile(r"^Pay invoice INV-"))
    await expect(pay).to_be_visible()
    await journey.shot("billing-invoice-open")

    await pay.click()
    await wait_for(lambda: len(world.stripe.state.sessions) == 1, "a Checkout Session at Stripe")
    [session_id] = world.stripe.state.sessions
    checkout = world.stripe.state.sessions[session_id]["url"]
    # The page's policy names Stripe's Checkout origin, so the browser follows the redirect.
    await page.wait_for_url(checkout)
    await journey.shot("stripe-checkout")
    world.stripe.state.pay(session_id)
    success = world.stripe.state.sessions[session_id]["success_url"]
    assert success.startswith(world.url)
    await page.goto(success)
    await page.wait_for_url(f"{world.url}/billing?done=paid")
    await expect(page.get_by_role("main").locator("table").first).to_contain_text("paid")
    await journey.shot("billing-paid")


async def test_reset_the_password_from_the_emailed_link(journey: Journey) -> None:
    page, world = journey.page, journey.world
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{world.url}/signin")
    await journey.shot("signin")
    await page.get_by_role("link", name="Forgot password?").click()
    await page.wait_for_url(f"{world.url}/forgot-password")
    await journey.shot("forgot-password")
    await page.get_by_label("Email").fill(EMAIL)
    await page.get_by_role("button", name="Send the link").click()
    await expect(page.get_by_role("main")).to_contain_text("If an account uses")
    await journey.shot("forgot-password-sent")
    await wait_for(lambda: len(world.mail) == 1, "the reset e-mail")
    link = reset_link(world.mail[0])

    await journey.visit(link, "reset-password")
    await page.get_by_label("New password").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Set the password").click()
    await page.wait_for_url(f"{world.url}/")
    await expect(page.get_by_role("heading", level=1)).to_have_text(WORKSPACE)

    # The link works once: a second visit says so and offers a new one.
    await journey.visit(link, "reset-password-reused")
    await expect(page.get_by_role("main")).to_contain_text("already used")
    await expect(page.get_by_role("main")).to_contain_text("Ask for a new link")

    # An expired link says so, and the password stays the one just set.
    await journey.visit("/", "dashboard-after-reset")  # the reset pages carry no shell
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{world.url}/signin")
    await journey.visit("/forgot-password", "forgot-password-again")
    await page.get_by_label("Email").fill(EMAIL)
    await page.get_by_role("button", name="Send the link").click()
    await wait_for(lambda: len(world.mail) == 2, "the second reset e-mail")
    expired = reset_link(world.mail[1])
    with sqlite3.connect(world.database, timeout=10) as connection:
        changed = connection.execute(
            "UPDATE password_reset_tokens SET expires_at = '2020' || substr(expires_at, 5)"
            " WHERE used_at IS NULL"
        ).rowcount
    assert changed == 1
    await journey.visit(expired, "reset-password-expired")
    await expect(page.get_by_role("main")).to_contain_text("expired")
    await expect(page.get_by_label("New password")).to_have_count(0)

    await journey.visit("/signin", "signin-new-password")
    await page.get_by_label("Email").fill(EMAIL)
    await page.get_by_label("Password").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{world.url}/")


async def test_the_browser_talked_only_to_this_machine(journey: Journey) -> None:
    hosts = {urlsplit(url).hostname for url in journey.requested} - {CHECKOUT_HOST}
    assert hosts <= LOOPBACK_HOSTS, f"requests left the machine: {hosts - LOOPBACK_HOSTS}"
    assert len(journey.taken) >= 30, journey.taken
