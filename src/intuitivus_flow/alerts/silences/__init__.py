"""Silences sub-domain: the `alerts silence` CLI (the silence rules live in alerts/service.py)."""
