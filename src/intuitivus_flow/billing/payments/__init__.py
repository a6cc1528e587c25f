"""Payments sub-domain: the ledger with Idempotency-Key, the gateways, the manual desk."""
