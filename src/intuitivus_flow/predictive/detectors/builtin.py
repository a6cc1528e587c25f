"""Registers the detectors shipped with the package (imported lazily by the registry)."""

from __future__ import annotations

from intuitivus_flow.predictive.detectors import register
from intuitivus_flow.predictive.detectors.ewma import EwmaZDetector
from intuitivus_flow.predictive.detectors.prophet_backend import ProphetDetector
from intuitivus_flow.predictive.detectors.robust import RobustResidualDetector, record_detector

register("default", RobustResidualDetector)
register("record", record_detector)
register("robust-point", lambda: record_detector(name="robust-point", views=("point",)))
register("ewma", EwmaZDetector)
register("prophet", ProphetDetector)
