"""Anomaly detectors for metric streams, looked up by name."""

from __future__ import annotations

from collections.abc import Callable

from intuitivus_flow.predictive.detectors.base import Detector, FloatArray, TimeArray

DetectorFactory = Callable[[], Detector]

_REGISTRY: dict[str, DetectorFactory] = {}


class UnknownDetectorError(KeyError):
    def __str__(self) -> str:
        return f"unknown detector {self.args[0]!r}; choose one of: {', '.join(available())}"


def register(name: str, factory: DetectorFactory) -> None:
    _REGISTRY[name] = factory


def available() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def get_detector(name: str) -> Detector:
    _load_builtin()
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise UnknownDetectorError(name) from None
    return factory()


def _load_builtin() -> None:
    # Imported on first use so that importing the package stays cheap (and prophet stays lazy).
    from intuitivus_flow.predictive.detectors import builtin  # noqa: F401


__all__ = [
    "Detector",
    "DetectorFactory",
    "FloatArray",
    "TimeArray",
    "UnknownDetectorError",
    "available",
    "get_detector",
    "register",
]
