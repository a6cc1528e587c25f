"""Web: page weight (HTML, CSS, JS; as sent and uncompressed), compression and cache headers.

The server-rendered UI's "bundle size" is each page plus the stylesheets and scripts it links.
The pages are fetched from the app itself, signed in (the caller hands a client holding a web
session), asking for gzip as browsers do; what came over the wire is compared with what gzip
would make of it, and static files are checked for cache headers.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass

import httpx

from intuitivus_flow.performance.findings import Area, AreaReport, Finding, Severity, Skipped, Table

SIGNED_IN_PAGES = ("/", "/dashboard", "/agents", "/campaigns", "/inbox", "/contacts")
PUBLIC_PAGES = ("/signin",)
TEXT_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml")
# Below this a text response gains little from compression (one TCP packet or so).
COMPRESS_FROM_BYTES = 1400
# Worth saying when compression would save at least this much of a response.
SAVING_WARNING_BYTES = 10_000
HEAVY_PAGE_BYTES = 250_000  # as sent, page and assets together
_ASSET = re.compile(
    r"""<(?:link[^>]+rel=["']stylesheet["'][^>]*href|script[^>]+src)=["'](/[^"'/][^"']*)["']""",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Resource:
    path: str
    kind: str  # html, css, js, other
    raw_bytes: int  # uncompressed
    sent_bytes: int  # over the wire
    gzip_bytes: int  # what gzip -6 would send
    encoding: str  # content-encoding sent ("" for none)
    cache_control: str
    validator: bool  # ETag or Last-Modified: revalidation possible

    @property
    def saving(self) -> int:
        """Bytes compression would save on this response as sent now."""
        if self.encoding or self.raw_bytes < COMPRESS_FROM_BYTES:
            return 0
        return max(0, self.sent_bytes - self.gzip_bytes)


def _kind(content_type: str) -> str:
    if "html" in content_type:
        return "html"
    if "css" in content_type:
        return "css"
    if "javascript" in content_type:
        return "js"
    return "other"


async def fetch(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, Resource]:
    response = await client.get(path, headers={"Accept-Encoding": "gzip"})
    content_type = response.headers.get("content-type", "")
    body = response.content
    is_text = any(content_type.startswith(prefix) for prefix in TEXT_TYPES)
    resource = Resource(
        path=path,
        kind=_kind(content_type),
        raw_bytes=len(body),
        sent_bytes=response.num_bytes_downloaded or len(body),
        gzip_bytes=len(gzip.compress(body, compresslevel=6)) if is_text else len(body),
        encoding=response.headers.get("content-encoding", ""),
        cache_control=response.headers.get("cache-control", ""),
        validator="etag" in response.headers or "last-modified" in response.headers,
    )
    return response, resource


async def analyze_web(client: httpx.AsyncClient | None, *, signed_in: bool) -> AreaReport:
    if client is None:
        return AreaReport(Area.WEB, skipped=(Skipped(Area.WEB, "no app to fetch pages from"),))
    pages: dict[str, list[Resource]] = {}
    assets: dict[str, Resource] = {}
    skipped: list[Skipped] = []
    for path in SIGNED_IN_PAGES if signed_in else PUBLIC_PAGES:
        response, page = await fetch(client, path)
        if response.status_code != 200:
            skipped.append(Skipped(Area.WEB, f"{path} answered {response.status_code}"))
            continue
        linked = []
        for asset_path in dict.fromkeys(_ASSET.findall(response.text)):
            if asset_path not in assets:
                assets[asset_path] = (await fetch(client, asset_path))[1]
            linked.append(assets[asset_path])
        pages[path] = [page, *linked]
    if not signed_in:
        skipped.append(Skipped(Area.WEB, "signed-in pages not fetched (no operator session)"))
    findings = _compression_findings(pages) + _cache_findings(assets) + _heavy_pages(pages)
    return AreaReport(
        Area.WEB,
        findings=tuple(findings),
        skipped=tuple(skipped),
        tables=(_table(pages),),
    )


def _compression_findings(pages: dict[str, list[Resource]]) -> list[Finding]:
    seen: dict[str, Resource] = {}
    for resources in pages.values():
        for resource in resources:
            seen[resource.path] = resource
    total_sent = sum(r.sent_bytes for r in seen.values()) or 1
    findings = []
    for resource in sorted(seen.values(), key=lambda r: -r.saving):
        if resource.saving < SAVING_WARNING_BYTES:
            continue
        findings.append(
            Finding(
                area=Area.WEB,
                code="web.uncompressed",
                title=f"{resource.path} is sent uncompressed: {resource.sent_bytes / 1000:.0f} kB"
                f" where gzip sends {resource.gzip_bytes / 1000:.0f} kB",
                severity=Severity.WARNING,
                impact=resource.saving / total_sent,
                evidence={
                    "sent_bytes": resource.sent_bytes,
                    "gzip_bytes": resource.gzip_bytes,
                    "saving_bytes": resource.saving,
                    "kind": resource.kind,
                },
                recommendation="Turn on compression of text responses: FLOW_HTTP_COMPRESSION="
                "true (gzip for pages and static files; the JSON API is left alone), or "
                "compress at the reverse proxy (nginx `gzip on; gzip_types text/css "
                "application/javascript;`).",
                subject=resource.path,
            )
        )
    return findings


def _cache_findings(assets: dict[str, Resource]) -> list[Finding]:
    uncached = [a for a in assets.values() if "max-age" not in a.cache_control]
    if not uncached:
        return []
    without_validator = [a.path for a in uncached if not a.validator]
    return [
        Finding(
            area=Area.WEB,
            code="web.static_cache",
            title=f"{len(uncached)} static files have no max-age: every page view revalidates them",
            severity=Severity.WARNING if without_validator else Severity.INFO,
            impact=0.02 * len(uncached),
            evidence={
                "files": ", ".join(sorted(a.path for a in uncached)),
                "without_etag_or_last_modified": len(without_validator),
            },
            recommendation="Put a content hash in static file names (flow.<hash>.css) and serve"
            " them with Cache-Control: public, max-age=31536000, immutable; until then the ETag"
            " keeps revalidations to a 304.",
            subject="/static",
        )
    ]


def _heavy_pages(pages: dict[str, list[Resource]]) -> list[Finding]:
    findings = []
    for path, resources in pages.items():
        sent = sum(r.sent_bytes for r in resources)
        if sent < HEAVY_PAGE_BYTES:
            continue
        page = resources[0]
        findings.append(
            Finding(
                area=Area.WEB,
                code="web.heavy_page",
                title=f"{path} weighs {sent / 1000:.0f} kB as sent",
                severity=Severity.WARNING,
                impact=min(1.0, sent / (4 * HEAVY_PAGE_BYTES)),
                evidence={
                    "page_bytes": page.sent_bytes,
                    "page_raw_bytes": page.raw_bytes,
                    "assets_bytes": sent - page.sent_bytes,
                },
                recommendation=f"Paginate or trim what {path} renders (rows, inline SVG), and "
                "compress it.",
                subject=path,
            )
        )
    return findings


def _table(pages: dict[str, list[Resource]]) -> Table:
    rows: list[tuple[float | int | str, ...]] = []
    for path, resources in pages.items():
        by_kind = {kind: [r for r in resources if r.kind == kind] for kind in ("html", "css", "js")}
        rows.append(
            (
                path,
                *(sum(r.raw_bytes for r in by_kind[kind]) for kind in ("html", "css", "js")),
                sum(r.raw_bytes for r in resources),
                sum(r.sent_bytes for r in resources),
                resources[0].encoding or "none",
            )
        )
    return Table(
        title="Page weight (page and linked CSS/JS, bytes)",
        columns=("page", "HTML", "CSS", "JS", "uncompressed", "sent", "encoding"),
        rows=tuple(sorted(rows, key=lambda row: -int(row[5]))),
        chart="sent",
        unit="bytes",
    )
