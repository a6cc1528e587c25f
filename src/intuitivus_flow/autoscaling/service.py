"""Use cases of the autoscaling domain: compare reactive and predictive scaling on a trace.

The HPA syncs on its own clock, out of phase with the load change: a change just after a sync
waits almost a full period longer than one just before. Every phase of the sync period is
simulated and the worst figure of each column is reported, so "under 30 s" holds for any phase.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from intuitivus_flow.autoscaling.report import StageFigures, render_table, stage_figures
from intuitivus_flow.autoscaling.simulation import SimulationParameters, simulate
from intuitivus_flow.autoscaling.trace import LoadTrace


@dataclass(frozen=True, slots=True)
class Comparison:
    reactive: list[StageFigures]
    predictive: list[StageFigures]
    peak_replicas: dict[str, int]

    def table(self) -> str:
        return render_table([("reactive", self.reactive), ("predictive", self.predictive)])


def compare(trace: LoadTrace, params: SimulationParameters) -> Comparison:
    """Replay `trace` at every sync phase: HPA on reactive metrics, then with the forecast."""
    results: dict[str, list[list[StageFigures]]] = {"reactive": [], "predictive": []}
    peaks = dict.fromkeys(results, 0)
    for offset in range(params.sync_seconds):
        phased = dataclasses.replace(params, sync_offset_seconds=offset)
        for mode in results:
            timeline = simulate(trace, phased, predictive=mode == "predictive")
            results[mode].append(stage_figures(trace, timeline, params.prescaling))
            peaks[mode] = max(peaks[mode], max(timeline.desired))
    return Comparison(
        reactive=worst_per_stage(results["reactive"]),
        predictive=worst_per_stage(results["predictive"]),
        peak_replicas=peaks,
    )


def worst_per_stage(runs: list[list[StageFigures]]) -> list[StageFigures]:
    """Per stage, the latest time of each column over the runs (None if any run never got there)."""
    return [_worst(list(stage_runs)) for stage_runs in zip(*runs, strict=True)]


def _worst(figures: list[StageFigures]) -> StageFigures:
    def latest(values: list[float | None]) -> float | None:
        return None if any(v is None for v in values) else max(v for v in values if v is not None)

    return dataclasses.replace(
        figures[0],
        first_scale_up=latest([f.first_scale_up for f in figures]),
        decided=latest([f.decided for f in figures]),
        ready=latest([f.ready for f in figures]),
        short_seconds=max(f.short_seconds for f in figures),
    )
