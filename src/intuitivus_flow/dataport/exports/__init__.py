"""Exports sub-domain: a workspace streamed out in keyset pages, entity by entity."""
