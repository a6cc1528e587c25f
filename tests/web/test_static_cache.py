"""Static files: fingerprinted and versioned URLs are cached for a year, anything else
revalidates (issue 17: long cache lifetimes without ever serving a stale file after a deploy)."""

from __future__ import annotations

import re

import httpx

from intuitivus_flow.web.static_files import IMMUTABLE, REVALIDATE, file_digest

UPLOT = "/static/vendor/uplot/1.6.32/uPlot.iife.min.js"


async def test_pages_link_fingerprinted_files_that_are_cached_for_a_year(
    browser: httpx.AsyncClient,
) -> None:
    page = await browser.get("/signin")
    stylesheet = re.search(r'<link rel="stylesheet" href="(/static/flow\.css\?v=\w+)"', page.text)
    assert stylesheet, "the layout links flow.css by its fingerprint"
    assert stylesheet.group(1).endswith(file_digest("flow.css"))
    served = await browser.get(stylesheet.group(1))
    assert served.status_code == 200
    assert served.headers["cache-control"] == IMMUTABLE
    assert "text/css" in served.headers["content-type"]


async def test_a_bare_or_outdated_url_revalidates(browser: httpx.AsyncClient) -> None:
    bare = await browser.get("/static/flow.js")
    assert bare.status_code == 200
    assert bare.headers["cache-control"] == REVALIDATE
    outdated = await browser.get("/static/flow.js?v=0123456789abcdef")
    assert outdated.headers["cache-control"] == REVALIDATE
    # Revalidation is cheap: the ETag answers 304, and the answer keeps the same rule.
    again = await browser.get("/static/flow.js", headers={"If-None-Match": bare.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["cache-control"] == REVALIDATE


async def test_versioned_vendor_files_are_immutable(browser: httpx.AsyncClient) -> None:
    library = await browser.get(UPLOT)
    assert library.status_code == 200
    assert library.headers["cache-control"] == IMMUTABLE
    assert "uPlot" in library.text[:2000]
    licence = await browser.get("/static/vendor/uplot/1.6.32/LICENSE")
    assert licence.status_code == 200
    assert "MIT License" in licence.text
    missing = await browser.get("/static/vendor/uplot/1.6.32/nothing.js")
    assert missing.status_code == 404
    assert "immutable" not in missing.headers.get("cache-control", "")
