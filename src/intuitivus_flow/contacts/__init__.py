"""Contacts: the people a workspace talks to (CRUD, tags, consent per channel, CSV import)
and audience segments."""

# The CSV import's upload may exceed FLOW_MAX_REQUEST_BYTES: its own limit (csv_import.py's
# 5 MiB file, plus room for the multipart envelope and the form's other fields).
IMPORT_PATHS = ("/api/contacts/import", "/contacts/import")
IMPORT_MAX_REQUEST_BYTES = 5 * 1024 * 1024 + 64 * 1024
