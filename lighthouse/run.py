"""Lighthouse CI over the web UI, signed in, on desktop and mobile.

    make lighthouse                  every page, 3 runs each, the median run asserted >= 0.95
    make lighthouse ARGS=--quick     a few pages, one run each (what `make test` runs)

The script starts the product on a scratch data directory (demo workspace seeded, so every page
has content), signs in as the demo owner, finds the pages from the sidebar and the first item of
each list, and runs `lhci collect` then `lhci assert` (lighthouserc.json: `median-run`
aggregation, every category >= 0.95) once per form factor. Signed-out pages (sign-in, sign-up,
password reset) run without the session cookie. It prints a table of the median scores and
writes it, with the raw reports, to var/lighthouse/<time>/ (or --out). The exit code is lhci's
verdict. Traffic goes only to the loopback server it started, or to --url.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
LHCI = HERE / "node_modules" / ".bin" / "lhci"
CONFIG = HERE / "lighthouserc.json"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
FORM_FACTORS = ("desktop", "mobile")
PUBLIC_PAGES = ("/signin", "/signup", "/forgot-password")
QUICK_PAGES = ("/dashboard", "/inbox", "/campaigns", "/signin")
# Detail pages: the first link of each list, so the pages people spend their day in are audited
# (the inbox's links carry its filter, `?filter=open`), with their tabs (a campaign's six).
DETAIL_LINK = re.compile(r'href="(/(?:agents|campaigns|contacts|inbox|crews)/[0-9a-f-]{36})[?"]')
NAV_LINK = re.compile(r'href="(/[a-z][a-z0-9/-]*)"')
AN_ID = re.compile(r"/[0-9a-f]{8}-[0-9a-f]{4}-")
NOT_PAGES = ("/signout", "/static", "/docs", "/redoc", "/widget", "/api", "/health", "/metrics")
# First start migrates, seeds the demo workspace and hashes its password: slow on a busy machine.
STARTUP_SECONDS = 180


@dataclass(frozen=True)
class Audit:
    """Where Lighthouse goes: the server, the signed-in pages and the cookie that opens them."""

    base_url: str
    pages: list[str]
    public_pages: list[str]
    cookie: str


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if not LHCI.exists():
        print(f"error: {LHCI} is missing; run `npm ci --prefix lighthouse` (make lighthouse does)")
        return 2
    out = args.out or Path("var/lighthouse") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    runs = 1 if args.quick else args.runs
    with _server(args.url) as base_url:
        audit = _prepare(base_url, quick=args.quick, only=args.only)
        pages = len(audit.pages) + len(audit.public_pages)
        print(f"Lighthouse: {pages} pages x {runs} runs x {len(FORM_FACTORS)} form factors", end="")
        print(f" against {base_url}", flush=True)
        verdicts, rows = [], []
        for form_factor in FORM_FACTORS:
            folder = out / form_factor
            verdicts.append(_collect_and_assert(audit, form_factor, runs, folder))
            rows += _median_scores(folder, form_factor, base_url)
    table = _table(rows)
    print(table)
    (out / "summary.md").write_text(table + "\n")
    (out / "summary.json").write_text(json.dumps(rows, indent=2))
    failed = [row for row in rows if min(row[c] for c in CATEGORIES) < args.min_score]
    print(f"\n{len(rows)} page audits, {len(failed)} below {args.min_score}; reports in {out}")
    return 0 if all(verdicts) and not failed else 1


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few pages, one run each")
    parser.add_argument("--runs", type=int, default=3, help="runs per page (median run is kept)")
    parser.add_argument("--url", help="audit this running instance (demo login in FLOW_DATA_DIR)")
    parser.add_argument("--out", type=Path, help="where reports go (default var/lighthouse/...)")
    parser.add_argument("--min-score", type=float, default=0.95)
    parser.add_argument(
        "--only", nargs="+", metavar="TEXT", help="only the found pages whose path contains TEXT"
    )
    return parser.parse_args(argv)


@contextmanager
def _server(url: str | None) -> Iterator[str]:
    """The instance to audit: the given URL, or our own on a scratch data directory."""
    if url:
        yield url.rstrip("/")
        return
    data_dir = Path(tempfile.mkdtemp(prefix="flow-lighthouse-"))
    port = _free_port()
    env = {**os.environ, "FLOW_DATA_DIR": str(data_dir), "FLOW_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "intuitivus_flow", "serve", "--host", "127.0.0.1"]
    server = subprocess.Popen([*command, "--port", str(port)], env=env)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base_url, server)
        os.environ["FLOW_DATA_DIR"] = str(data_dir)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_up(base_url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"error: the server exited with code {server.returncode}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"error: the server did not answer within {STARTUP_SECONDS} s")


def _prepare(base_url: str, *, quick: bool, only: list[str] | None = None) -> Audit:
    email, password = _demo_login()
    with httpx.Client(base_url=base_url, follow_redirects=True, timeout=30) as browser:
        signin = browser.get("/signin")
        token = re.search(r'name="csrf_token" value="([^"]+)"', signin.text)
        if not token:
            raise SystemExit("error: the sign-in page has no CSRF token")
        form = {"csrf_token": token.group(1), "email": email, "password": password, "next": "/"}
        if browser.post("/signin", data=form).url.path == "/signin":
            raise SystemExit(f"error: could not sign in as {email}")
        cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
        pages = list(QUICK_PAGES[:-1]) if quick else _discover(browser)
    public = list(QUICK_PAGES[-1:]) if quick else list(PUBLIC_PAGES)
    if only:  # re-checking a few pages after a fix, e.g. --only /forecasts retention
        pages = [page for page in pages if _wanted(page, only)]
        public = [page for page in public if _wanted(page, only)]
    return Audit(base_url, pages, public, cookie)


def _demo_login() -> tuple[str, str]:
    """The demo owner's credentials, from the file the first start writes beside the database."""
    path = Path(os.environ.get("FLOW_DATA_DIR", "var")) / "demo-login.txt"
    fields = dict(line.split(": ", 1) for line in path.read_text().splitlines() if ": " in line)
    return fields["email"], fields["password"]


def _wanted(page: str, texts: list[str]) -> bool:
    """`--only`: a path containing one of the texts; "/" alone means the overview page."""
    return any(page == text if text == "/" else text in page for text in texts)


def _discover(browser: httpx.Client) -> list[str]:
    """The sidebar's pages, the pages of their sections they link to (the analytics pages, the
    contact import), then the first item of each list and its tabs."""
    home = browser.get("/dashboard").text
    # The overview is the sidebar's "/", which the link pattern (a letter after the slash) skips.
    links = NAV_LINK.findall(home)
    pages = sorted({"/", *(link for link in links if not link.startswith(NOT_PAGES))})
    subpages: list[str] = []
    details: list[str] = []
    for page in pages:
        html = browser.get(page).text
        section = "/" + page.strip("/").split("/")[0] + "/"
        for link in NAV_LINK.findall(html):
            if link.startswith(section) and not AN_ID.search(link) and link not in pages:
                subpages += [] if link in subpages or link.startswith(NOT_PAGES) else [link]
        found = DETAIL_LINK.search(html)
        if found and found.group(1) not in details:
            detail = found.group(1)
            tabs = {t for t in NAV_LINK.findall(browser.get(detail).text) if t.startswith(detail)}
            details += [detail, *sorted(tabs - {detail})]
    return pages + sorted(subpages) + details


def _collect_and_assert(audit: Audit, form_factor: str, runs: int, folder: Path) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    batches = [(audit.pages, {"Cookie": audit.cookie}), (audit.public_pages, {})]
    for batch, (pages, headers) in enumerate(batches):
        if not pages:
            continue
        print(f"- {form_factor}: collecting {len(pages)} pages", flush=True)
        urls = [f"{audit.base_url}{page}" for page in pages]
        # A config file per batch, not command-line options: lhci would replace the settings
        # object with the one given on the command line, and the cookie stays out of `ps`.
        with tempfile.NamedTemporaryFile("w", suffix=".json", dir=folder) as rc:
            config = _batch_config(form_factor, runs, urls, headers, additive=batch > 0)
            json.dump(config, rc)
            rc.flush()
            subprocess.run([str(LHCI), "collect", f"--config={rc.name}"], cwd=folder, check=True)
    verdict = subprocess.run([str(LHCI), "assert", f"--config={CONFIG}"], cwd=folder)
    return verdict.returncode == 0


def _batch_config(
    form_factor: str, runs: int, urls: list[str], headers: dict[str, str], *, additive: bool
) -> dict[str, object]:
    config = json.loads(CONFIG.read_text())
    collect = config["ci"]["collect"]
    # `additive`: a later batch adds its reports instead of clearing the earlier ones.
    collect |= {"numberOfRuns": runs, "url": urls, "additive": additive}
    settings = collect["settings"]
    if form_factor == "desktop":
        settings["preset"] = "desktop"
    if headers:
        settings["extraHeaders"] = headers
    return dict(config)


def _median_scores(folder: Path, form_factor: str, base_url: str) -> list[dict[str, Any]]:
    scores: dict[str, dict[str, list[float]]] = {}
    for report in sorted((folder / ".lighthouseci").glob("lhr-*.json")):
        lhr = json.loads(report.read_text())
        page = lhr["requestedUrl"].removeprefix(base_url)
        for category in CATEGORIES:
            score = lhr["categories"][category]["score"]
            scores.setdefault(page, {}).setdefault(category, []).append(score or 0.0)
    return [
        {"page": page, "form_factor": form_factor}
        | {category: statistics.median(values) for category, values in by_category.items()}
        for page, by_category in sorted(scores.items())
    ]


def _table(rows: list[dict[str, Any]]) -> str:
    header = "| page | form factor | " + " | ".join(CATEGORIES) + " |"
    lines = [header, "|" + "---|" * (len(CATEGORIES) + 2)]
    for row in rows:
        figures = " | ".join(f"{row[category]:.2f}" for category in CATEGORIES)
        lines.append(f"| {row['page']} | {row['form_factor']} | {figures} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
