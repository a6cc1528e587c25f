"""Campaigns: ad and messaging campaigns, their performance reports and automation steps."""
