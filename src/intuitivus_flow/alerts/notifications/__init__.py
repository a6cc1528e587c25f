"""Notifications sub-domain: the outbox of alert deliveries to webhooks, Slack and email."""
