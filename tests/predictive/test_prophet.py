"""The Prophet baseline: pure helpers always, a real fit only when prophet is installed."""

from __future__ import annotations

import importlib.util
import itertools

import numpy as np
import pytest

from intuitivus_flow.predictive.detectors import get_detector
from intuitivus_flow.predictive.detectors.prophet_backend import ProphetDetector, band_scores

from .synthetic import seasonal_series, timeline

HAS_PROPHET = importlib.util.find_spec("prophet") is not None


def test_chunks_train_on_the_past_only() -> None:
    chunks = ProphetDetector(refits=4).chunks(1000)
    assert chunks[0][0] == 150  # first fit after the 15 % probation
    assert chunks[-1][1] == 1000
    assert all(a < b for a, b in chunks)
    assert all(prev[1] == nxt[0] for prev, nxt in itertools.pairwise(chunks))


def test_band_rule_flags_points_outside_the_interval() -> None:
    values = np.array([1.0, 5.0, -5.0, 2.0])
    scores = band_scores(values, np.zeros(4), np.full(4, -3.0), np.full(4, 3.0))
    assert scores.tolist()[1:3] == [1.0, 1.0]
    assert scores[0] < 0.5
    assert scores[3] < 0.5


@pytest.mark.skipif(not HAS_PROPHET, reason="prophet is an optional extra and is not installed")
def test_prophet_flags_a_large_spike() -> None:
    values = seasonal_series(days=4, seed=5)
    values[-100] += 60
    scores = ProphetDetector(refits=1).score(timeline(len(values)), values)
    assert scores[-100] == 1.0
    assert get_detector("prophet").name == "prophet"
