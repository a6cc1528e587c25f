"""Alerting: the rule model, SLO maths and the export to Prometheus and Alertmanager.

* :func:`intuitivus_flow.alerts.rules.load_rules` / :func:`~.rules.default_rules` - validated
  threshold rules, SLO rules and inhibitions from YAML;
* :mod:`intuitivus_flow.alerts.slo` - error budgets, burn rates, multiwindow decisions;
* :func:`intuitivus_flow.alerts.export.service.export_prometheus` - recording/alerting rules, an
  Alertmanager config and promtool unit tests;
* :data:`intuitivus_flow.alerts.cli.app` - the ``alerts`` Typer sub-app.

Kept free of imports so that ``import intuitivus_flow.alerts.rules`` stays cheap for the engine.
"""
