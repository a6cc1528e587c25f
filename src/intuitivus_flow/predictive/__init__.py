"""Predictive alerting: causal anomaly detection and forecast-breach prediction.

* :func:`intuitivus_flow.predictive.detectors.get_detector` - detectors by name
  (``"default"``, ``"prophet"``, and the measured alternatives);
* :func:`intuitivus_flow.predictive.forecast.forecast_breach` - threshold-crossing forecasts;
* :func:`intuitivus_flow.predictive.evaluation.evaluate_corpus` - the NAB-layout harness;
* :data:`intuitivus_flow.predictive.cli.app` - the ``alerts`` Typer sub-app.
"""

from __future__ import annotations

from intuitivus_flow.predictive.detectors import Detector, available, get_detector
from intuitivus_flow.predictive.forecast import BreachForecast, forecast_breach

__all__ = ["BreachForecast", "Detector", "available", "forecast_breach", "get_detector"]
