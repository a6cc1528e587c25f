"""Imports sub-domain: the uploaded archive, its stored upload, validate-then-write, progress."""
