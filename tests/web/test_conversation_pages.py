"""Inbox and contacts pages, driven like a browser."""

from __future__ import annotations

import re
import uuid

import httpx

from intuitivus_flow.contacts import service as contacts
from intuitivus_flow.conversations import service as conversations
from intuitivus_flow.conversations.models import Channel
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.workspaces.models import Workspace
from tests.web.browsing import Web, sign_up, submit, text_of


async def _conversation(web: Web) -> str:
    """A WhatsApp-less web-chat conversation with one inbound message (no job is run)."""
    async with unit_of_work(web.app.state.context.sessions) as session:
        from sqlalchemy import select

        workspace = (await session.execute(select(Workspace))).scalars().one()
        contact, _ = await contacts.find_or_create_by_phone(
            session, workspace.id, phone="+5511987654321", name="Maria"
        )
        conversation = await conversations.continue_or_start(
            session, workspace.id, contact=contact, channel=Channel.webchat, visitor_id="v-123456"
        )
        await conversations.receive(session, conversation, text="Where is my order?")
        return str(conversation.id)


async def test_inbox_conversation_reply_escalate_close(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    conversation_id = await _conversation(web)
    inbox = await browser.get("/inbox")
    assert inbox.status_code == 200
    assert "Where is my order?" in text_of(inbox.text)
    assert 'href="/inbox" aria-current="page"' in inbox.text
    page_url = f"/inbox/{conversation_id}"
    page = await browser.get(page_url)
    assert "Maria" in text_of(page.text)

    replied = await submit(browser, page_url, f"{page_url}/reply", {"text": "On its way!"})
    assert replied.status_code == 303
    after = await browser.get(replied.headers["location"])
    assert "On its way!" in text_of(after.text)
    assert "Your reply was queued" in text_of(after.text)
    empty = await submit(browser, page_url, f"{page_url}/reply", {"text": ""})
    assert empty.status_code == 422

    escalated = await submit(browser, page_url, f"{page_url}/escalate", {})
    assert (await browser.get(escalated.headers["location"])).text.count("Hand back") == 1
    await submit(browser, page_url, f"{page_url}/hand-back", {})
    closed = await submit(browser, page_url, f"{page_url}/close", {})
    assert "was closed" in text_of((await browser.get(closed.headers["location"])).text)
    late = await submit(browser, page_url, f"{page_url}/escalate", {})
    assert late.status_code == 409
    assert "closed" in text_of(late.text)
    assert "Maria" in text_of((await browser.get("/inbox?state=closed")).text)
    assert "No conversations here" in text_of((await browser.get("/inbox?state=bogus")).text)
    assert (await submit(browser, page_url, f"{page_url}/explode", {})).status_code == 404
    assert (await browser.get("/inbox/not-an-id")).status_code == 404


async def test_contacts_page_create_filter_delete(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    created = await submit(
        browser,
        "/contacts",
        "/contacts",
        {"name": "Ana", "phone": "+55 11 98765-4321", "email": "", "tags": "vip, lead"},
    )
    assert created.status_code == 303
    await submit(
        browser, "/contacts", "/contacts", {"name": "Bob", "phone": "", "email": "", "tags": "lead"}
    )
    listed = text_of((await browser.get("/contacts")).text)
    assert "+5511987654321" in listed
    assert "Bob" in listed
    vip = text_of((await browser.get("/contacts", params={"tag": "vip"})).text)
    assert "Ana" in vip
    assert "Bob" not in vip
    assert "Bob" in text_of((await browser.get("/contacts", params={"tag": "bad tag!"})).text)

    invalid = await submit(
        browser, "/contacts", "/contacts", {"name": "X", "phone": "123", "email": "", "tags": ""}
    )
    assert invalid.status_code == 422
    taken = await submit(
        browser,
        "/contacts",
        "/contacts",
        {"name": "Y", "phone": "+5511987654321", "email": "", "tags": ""},
    )
    assert taken.status_code == 409
    assert "already has this phone" in text_of(taken.text)

    page = (await browser.get("/contacts")).text
    contact_id = re.search(r'action="/contacts/([0-9a-f-]+)/delete"', page)
    assert contact_id
    deleted = await submit(browser, "/contacts", f"/contacts/{contact_id.group(1)}/delete", {})
    assert deleted.headers["location"] == "/contacts?done=contact_deleted"


async def test_three_panes_filters_unread_and_assignment(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    conversation_id = await _conversation(web)
    inbox = await browser.get("/inbox")
    text = text_of(inbox.text)
    assert "Unread 1 conversations" in text  # the filter's count, read out with its noun
    assert "Choose a conversation" in text
    assert "Keyboard shortcuts" in text
    assert 'id="inbox-list"' in inbox.text
    assert "inbox.js" in inbox.text
    unread = text_of((await browser.get("/inbox?filter=unread")).text)
    assert "Where is my order?" in unread

    page = await browser.get(f"/inbox/{conversation_id}?filter=unread")
    assert 'class="bubble bubble--in bubble--contact"' in page.text
    assert 'id="inbox-conversation"' in page.text
    assert "Contact page" in page.text
    # Opening it read it: the unread filter is empty now, for this member.
    pane_only = {"X-Inbox-Pane": "1"}
    after = await browser.get("/inbox/panes/list?filter=unread", headers=pane_only)
    assert "No conversations here" in text_of(after.text)
    assert "<html" not in after.text
    assert "Mine 0" in text_of(after.text)

    me = re.search(r'<option value="([^"]+)" data-me>', page.text)
    assert me, "the assignment select offers the viewer"
    url = f"/inbox/{conversation_id}"
    assigned = await submit(browser, url, f"{url}/assign?filter=mine", {"user_id": me.group(1)})
    assert assigned.status_code == 303
    assert "filter=mine" in assigned.headers["location"]
    mine = text_of((await browser.get("/inbox?filter=mine")).text)
    assert "Maria" in mine
    assert "Mine 1" in mine
    pane = await browser.get(f"{url}/panes/thread", headers=pane_only)
    assert "(you)" in pane.text
    assert "<html" not in pane.text
    foreign = await submit(browser, url, f"{url}/assign", {"user_id": str(uuid.uuid4())})
    assert foreign.status_code == 422
    assert "active member" in text_of(foreign.text)
    cleared = await submit(browser, url, f"{url}/assign", {"user_id": ""})
    assert cleared.status_code == 303
    assert "Nobody" in text_of((await browser.get(f"{url}/panes/thread", headers=pane_only)).text)
    # Opened by hand, a pane's address or the event stream's is the whole page.
    by_hand = await browser.get(f"{url}/panes/thread?filter=mine")
    assert by_hand.headers["location"] == f"{url}?filter=mine"
    assert (await browser.get("/inbox/events")).headers["location"] == "/inbox"
