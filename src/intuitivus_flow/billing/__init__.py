"""Billing: plans and their limits, subscriptions, invoices, payments, licences, webhooks."""
