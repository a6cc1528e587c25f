"""Metric history: the alert signals sampled every few seconds into the `metrics` table."""
