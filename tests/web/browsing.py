"""Drive the web shell's forms like a browser: CSRF tokens, cookies and page text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape

import httpx
from fastapi import FastAPI

PASSWORD = "correct horse battery"
BASE_URL = "http://testserver"
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Web:
    """The app under test and a way to open browser-like clients (each with its own cookies)."""

    app: FastAPI

    def client(self, cookies: dict[str, str] | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=BASE_URL, cookies=cookies
        )


def csrf_from(html: str) -> str:
    found = _CSRF_FIELD.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def text_of(html: str) -> str:
    """The page's text with tags removed, for readable assertions."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


async def submit(
    client: httpx.AsyncClient, page: str, action: str, fields: dict[str, str | list[str]]
) -> httpx.Response:
    """Load `page` (for its CSRF token) and post `fields` to `action`, as a browser would."""
    loaded = await client.get(page)
    data = {"csrf_token": csrf_from(loaded.text), **fields}
    return await client.post(action, data=data)


async def sign_up(
    client: httpx.AsyncClient,
    *,
    email: str = "owner@example.com",
    workspace: str = "Acme Marketing",
    name: str = "Olivia Owner",
) -> httpx.Response:
    return await submit(
        client,
        "/signup",
        "/signup",
        {"email": email, "password": PASSWORD, "name": name, "workspace_name": workspace},
    )
