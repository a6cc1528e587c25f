"""Static files with cache lifetimes a browser can trust, and the URLs that make them safe.

A page links a static file through `static_url("charts.js")`, which appends `?v=<digest of the
file's bytes>`. A request whose `v` matches the file's current digest, or any file under a
versioned vendor directory (`vendor/<lib>/<x.y.z>/`, written by scripts/vendor-assets.sh), can
never change under that URL, so it is cached for a year and marked immutable: a repeat visit
makes no request for it at all. Anything else (an old digest, a bare URL) must revalidate
(`no-cache` with the ETag), so a deploy is never hidden behind a stale copy.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache
from pathlib import Path

from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parent / "static"

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

_VERSIONED_VENDOR = re.compile(r"^vendor/[^/]+/\d+(\.\d+)+/")


@lru_cache(maxsize=256)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    # Keyed by mtime and size too, so an edited file (development) gets a new digest at once.
    del mtime_ns, size
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def file_digest(relative: str) -> str:
    full = STATIC_DIR / relative
    stat = full.stat()
    return _digest(str(full), stat.st_mtime_ns, stat.st_size)


def static_url(relative: str) -> str:
    """The URL of a file under static/ that may be cached forever (see the module docstring)."""
    if _VERSIONED_VENDOR.match(relative):
        return f"/static/{relative}"
    return f"/static/{relative}?v={file_digest(relative)}"


class CachedStaticFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = self._cache_control(path, scope)
        return response

    def _cache_control(self, path: str, scope: Scope) -> str:
        relative = path.replace(os.sep, "/")
        if _VERSIONED_VENDOR.match(relative):
            return IMMUTABLE
        wanted = QueryParams(scope.get("query_string", b"")).get("v")
        if wanted is not None:
            try:
                if wanted == file_digest(relative):
                    return IMMUTABLE
            except OSError:
                pass
        return REVALIDATE
