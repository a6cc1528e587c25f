"""Every page has a meta description and a favicon, and /favicon.ico answers (issue 17)."""

from __future__ import annotations

import re
from html import unescape

import httpx
from fastapi.routing import APIRoute, iter_route_contexts

from intuitivus_flow.web.descriptions import DEFAULT_DESCRIPTION, PAGE_DESCRIPTIONS
from tests.web.browsing import Web, sign_up

_DESCRIPTION = re.compile(r'<meta name="description" content="([^"]*)">')


def _web_pages(web: Web) -> list[str]:
    """The GET pages of the web router that need no path parameter, found from the app itself
    so a page added later is checked too."""
    # FastAPI keeps included routers unflattened: a route context has the effective path.
    return sorted(
        {
            context.path
            for context in iter_route_contexts(web.app.routes)
            if isinstance(context.original_route, APIRoute)
            and context.original_route.endpoint.__module__.startswith("intuitivus_flow.web.")
            and "GET" in (context.methods or ())
            and "{" not in context.path
            and context.path not in {"/docs", "/docs/oauth2-redirect", "/redoc", "/favicon.ico"}
        }
    )


def _allowed_statuses(path: str) -> set[int]:
    if path.startswith("/operator/"):  # the operators' desk: not for a workspace owner
        return {200, 303, 403}
    if path == "/reset-password":  # opened without its e-mailed token: "this link is not valid"
        return {400}
    return {200, 303}


def _head_of(page: httpx.Response) -> tuple[str, str]:
    head = page.text.split("</head>", 1)[0]
    found = _DESCRIPTION.search(head)
    assert found, f"{page.url.path}: no meta description"
    return unescape(found.group(1)), head


async def test_every_page_has_a_description_and_a_favicon(
    web: Web, browser: httpx.AsyncClient
) -> None:
    signed_out = await browser.get("/signin")
    description, _ = _head_of(signed_out)
    assert description == PAGE_DESCRIPTIONS["signin.html"]

    assert (await sign_up(browser)).status_code == 303  # the owner sees the admin pages too
    checked: dict[str, str] = {}
    for path in _web_pages(web):
        page = await browser.get(path)
        assert page.status_code in _allowed_statuses(path), (path, page.status_code)
        if page.status_code not in {200, 400} or not page.headers["content-type"].startswith(
            "text/html"
        ):
            continue
        description, head = _head_of(page)
        assert 30 <= len(description) <= 160, (path, description)  # what search results show
        assert '<link rel="icon" href="/static/favicon.svg"' in head, path
        assert '<link rel="icon" href="/favicon.ico"' in head, path
        checked[path] = description
    assert len(checked) >= 15, sorted(checked)
    # Pages with their own text, not all the default.
    assert checked["/agents"] == PAGE_DESCRIPTIONS["agents.html"]
    assert checked["/dashboard"] == PAGE_DESCRIPTIONS["dashboard.html"]
    assert len(set(checked.values())) > len(checked) // 2
    assert all(len(text) <= 160 for text in [DEFAULT_DESCRIPTION, *PAGE_DESCRIPTIONS.values()])


async def test_favicons_are_served(browser: httpx.AsyncClient) -> None:
    ico = await browser.get("/favicon.ico")
    assert ico.status_code == 200
    assert ico.headers["content-type"] == "image/x-icon"
    assert ico.content[:4] == b"\x00\x00\x01\x00"  # the ICO header: a real icon, not HTML
    svg = await browser.get("/static/favicon.svg")
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in svg.text
