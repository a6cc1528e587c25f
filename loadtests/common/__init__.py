"""Helpers shared by the scenarios: pacing, credentials, checks, WhatsApp signatures, records."""
