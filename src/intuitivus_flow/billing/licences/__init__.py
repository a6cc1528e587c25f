"""Licences sub-domain: issued and revoked by purchase-platform webhooks, redeemed once."""
