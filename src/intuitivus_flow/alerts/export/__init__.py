"""Export sub-domain: a rule set as Prometheus/Alertmanager configuration and promtool tests."""
