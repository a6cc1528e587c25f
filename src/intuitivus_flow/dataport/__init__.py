"""Workspace data export (JSON Lines or CSV, streamed) and import (validated, all or nothing)."""

# Routes that take import uploads: they get FLOW_IMPORT_MAX_BYTES instead of the global body
# limit (the API's synchronous and queued imports, and the web form).
IMPORT_PATHS = ("/api/data/import", "/api/data/imports", "/data/import")
