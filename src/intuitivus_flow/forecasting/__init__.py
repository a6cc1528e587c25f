"""Predictive alerting in the product: per-signal models over the metric history.

A model per (signal, detector) is trained from the `metrics` table, persisted in
`forecast_models`, retrained on a schedule and when its behaviour drifts, and reports its state
(cold_start, training, ready, failed). The alert engine asks `PredictiveEvaluator` for
observations of the predictive rules (`kind: anomaly`, `kind: forecast_breach`), so those
alerts share the threshold alerts' lifecycle, silences, inhibitions and notifications.
See docs/forecasting.md.
"""
