"""The contact page (edit, consent with its history, activity) and the CSV import page,
driven like a browser: CSRF tokens, per-field errors, dry run then real run."""

from __future__ import annotations

import re

import httpx

from intuitivus_flow.contacts import service as contacts
from intuitivus_flow.conversations import service as conversations
from intuitivus_flow.conversations.models import Channel
from intuitivus_flow.kit.db import unit_of_work
from tests.web.browsing import Web, csrf_from, sign_up, submit, text_of

CSV = (
    "name,phone,email,whatsapp_opt_in\n"
    "Ana,+5511987650001,ana@example.com,yes\n"
    "Bruno,+5511987650002,,\n"
)


async def _created(browser: httpx.AsyncClient) -> str:
    created = await submit(
        browser,
        "/contacts",
        "/contacts",
        {"name": "Maria", "phone": "+5511987654321", "email": "", "tags": "vip"},
    )
    assert created.status_code == 303
    found = re.search(r'href="/contacts/([0-9a-f-]{36})"', (await browser.get("/contacts")).text)
    assert found, "the list links to the contact's page"
    return found.group(1)


async def upload(
    browser: httpx.AsyncClient, content: bytes, *, dry_run: bool, tags: str = ""
) -> httpx.Response:
    token = csrf_from((await browser.get("/contacts/import")).text)
    data = {"csrf_token": token, "tags": tags, **({"dry_run": "on"} if dry_run else {})}
    return await browser.post(
        "/contacts/import", data=data, files={"file": ("people.csv", content, "text/csv")}
    )


async def test_contact_page_edit_and_consent(web: Web, browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    contact_id = await _created(browser)
    page_url = f"/contacts/{contact_id}"
    page = text_of((await browser.get(page_url)).text)
    assert "Maria" in page
    assert "Unknown (not consent for marketing)" in page
    assert "No consent change recorded yet" in page

    saved = await submit(
        browser,
        page_url,
        page_url,
        {
            "name": "Maria Silva",
            "phone": "+55 11 98765-4321",
            "email": "maria@example.com",
            "tags": "vip, lead",
            "attributes": "city: Recife\nplan: gold",
        },
    )
    assert saved.status_code == 303
    after = text_of((await browser.get(saved.headers["location"])).text)
    assert "The contact was saved." in after
    async with unit_of_work(web.app.state.context.sessions) as session:
        from sqlalchemy import select

        from intuitivus_flow.contacts.models import Contact

        contact = (await session.scalars(select(Contact))).one()
        assert (contact.name, contact.email, contact.tags) == (
            "Maria Silva",
            "maria@example.com",
            ["lead", "vip"],
        )
        assert contact.attributes == {"city": "Recife", "plan": "gold"}

    bad = await submit(
        browser,
        page_url,
        page_url,
        {"name": "M", "phone": "123", "email": "", "tags": "", "attributes": "no separator"},
    )
    assert bad.status_code == 422
    assert "line 1: write each attribute as 'name: value'" in text_of(bad.text)

    recorded = await submit(
        browser,
        page_url,
        f"{page_url}/consent",
        {"channel": "whatsapp", "state": "opted_in", "reason": "Signed the form at the fair"},
    )
    assert recorded.status_code == 303
    with_consent = text_of((await browser.get(recorded.headers["location"])).text)
    assert "The consent change was recorded." in with_consent
    assert "Signed the form at the fair" in with_consent
    assert "Unknown (not consent for marketing) → Opted in" in with_consent
    assert "(you)" in with_consent

    no_reason = await submit(
        browser, page_url, f"{page_url}/consent", {"channel": "email", "state": "opted_in"}
    )
    assert no_reason.status_code == 422
    assert (await browser.get("/contacts/not-an-id")).status_code == 404
    forged = await browser.post(f"{page_url}/consent", data={"channel": "email"})
    assert forged.status_code == 403


async def test_contact_page_shows_conversations_and_events(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    contact_id = await _created(browser)
    async with unit_of_work(web.app.state.context.sessions) as session:
        from sqlalchemy import select

        from intuitivus_flow.contacts.models import Contact

        contact = (await session.scalars(select(Contact))).one()
        conversation = await conversations.continue_or_start(
            session,
            contact.workspace_id,
            contact=contact,
            channel=Channel.webchat,
            visitor_id="v-123456",
        )
        await conversations.receive(session, conversation, text="Where is my order?")
        conversation_id = conversation.id
        other, _ = await contacts.find_or_create_by_phone(
            session, contact.workspace_id, phone="+5511900000000", name="Other"
        )
    page = await browser.get(f"/contacts/{contact_id}")
    assert f'href="/inbox/{conversation_id}"' in page.text
    text = text_of(page.text)
    assert "Where is my order?" in text
    assert "contact.created" in text
    assert "conversation.message_received" in text
    other_page = text_of((await browser.get(f"/contacts/{other.id}")).text)
    assert "No conversation yet." in other_page
    assert "conversation.message_received" not in other_page


async def test_import_page_dry_run_then_import(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    page = await browser.get("/contacts/import")
    assert page.status_code == 200
    assert "whatsapp_opt_in" in text_of(page.text)

    dry = await upload(browser, CSV.encode(), dry_run=True, tags="fair")
    assert dry.status_code == 200
    report = text_of(dry.text)
    assert "Dry run: nothing was written." in report
    assert "2 row(s): 2 would be created" in report
    assert "No contacts" in text_of((await browser.get("/contacts")).text)

    real = await upload(browser, CSV.encode(), dry_run=False, tags="fair")
    assert "Imported: 2 created, 0 updated, 0 unchanged." in text_of(real.text)
    listed = text_of((await browser.get("/contacts", params={"tag": "fair"})).text)
    assert "Ana" in listed
    assert "Bruno" in listed
    again = await upload(browser, CSV.encode(), dry_run=False, tags="fair")
    assert "Imported: 0 created, 0 updated, 2 unchanged." in text_of(again.text)


async def test_import_page_lists_problems_and_changes_nothing(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    wrong_columns = await upload(browser, b"nome,telefone\nAna,+5511987650001\n", dry_run=False)
    assert wrong_columns.status_code == 422
    assert "unknown column" in text_of(wrong_columns.text)
    bad_row = await upload(browser, b"phone\n+5511987650001\n12345\n", dry_run=False)
    assert bad_row.status_code == 422
    text = text_of(bad_row.text)
    assert "1 problem(s) found; nothing was imported." in text
    assert "use the international E.164 format" in text
    no_file = await browser.post(
        "/contacts/import",
        data={"csrf_token": csrf_from((await browser.get("/contacts/import")).text)},
    )
    assert no_file.status_code == 422
    assert "Choose a CSV file." in text_of(no_file.text)
    assert "No contacts" in text_of((await browser.get("/contacts")).text)
