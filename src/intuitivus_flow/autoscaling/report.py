"""From a simulated timeline to the figures the milestone asks for, and the printed table.

For every rising stage of the trace (a ramp segment or a burst), with `need` the fewest
replicas the HPA accepts for its peak load (per-pod load within the 10 % tolerance of the
target: 2000 rps on 19 pods is 105 per pod, and the HPA stays there):

- first scale-up: the first HPA decision adding pods after the load started to change;
- decided: when the replica count set by the HPA reached `need` for good (negative when it was
  already there before the change: predictive pre-scaling);
- ready: when that many pods were serving;
- short: seconds of the stage (until the next one) with more load than the ready pods accept
  (target plus tolerance).
All times are seconds from the start of the stage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from intuitivus_flow.autoscaling.forecast import PrescalingOptions, replicas_for_load
from intuitivus_flow.autoscaling.hpa import DEFAULT_TOLERANCE
from intuitivus_flow.autoscaling.simulation import Timeline
from intuitivus_flow.autoscaling.trace import LoadTrace


@dataclass(frozen=True, slots=True)
class StageFigures:
    start: float
    peak_rps: float
    need: int
    first_scale_up: float | None
    decided: float | None
    ready: float | None
    short_seconds: int


def stage_figures(
    trace: LoadTrace, timeline: Timeline, options: PrescalingOptions
) -> list[StageFigures]:
    origin = math.floor(trace.times[0])
    stages = trace.rising_stages()
    figures = []
    for index, (start, end, peak) in enumerate(stages):
        need = replicas_for_load(peak, options, slack=DEFAULT_TOLERANCE)
        until = stages[index + 1][0] if index + 1 < len(stages) else trace.times[-1]
        first, second = int(start) - origin, int(end) - origin
        figures.append(
            StageFigures(
                start=start,
                peak_rps=peak,
                need=need,
                first_scale_up=_first_scale_up(timeline, origin, first, int(until) - origin),
                decided=_reached_for_good(timeline.desired, need, first, second),
                ready=_reached_for_good(timeline.ready, need, first, second),
                short_seconds=_short_seconds(timeline, first, int(until) - origin, options),
            )
        )
    return figures


def _first_scale_up(timeline: Timeline, origin: int, first: int, until: int) -> float | None:
    # Decisions carry trace times; the per-second lists are indexed from the trace's start.
    for decision in timeline.decisions:
        at = decision.at - origin
        if first <= at <= until and decision.after > decision.before:
            return float(at - first)
    return None


def _reached_for_good(series: list[int], need: int, first: int, second: int) -> float | None:
    """Seconds from `first` to the moment `series` reached `need` and stayed through `second`."""
    last = min(second, len(series) - 1)
    if series[last] < need:
        for t in range(last + 1, len(series)):
            if series[t] >= need:
                return float(t - first)
        return None
    t = last
    while t > 0 and series[t - 1] >= need:
        t -= 1
    return float(t - first)


def _short_seconds(timeline: Timeline, first: int, until: int, options: PrescalingOptions) -> int:
    accepted_per_pod = options.target_rps_per_pod * (1 + DEFAULT_TOLERANCE)
    return sum(
        1
        for t in range(first, min(until, len(timeline.load) - 1) + 1)
        if timeline.load[t] > timeline.ready[t] * accepted_per_pod
    )


def render_table(rows: list[tuple[str, list[StageFigures]]]) -> str:
    """One line per (mode, stage); `-` where the need was never reached within the trace."""
    header = (
        f"{'mode':<11}{'stage at':>9}{'peak rps':>10}{'need':>6}"
        f"{'1st up':>8}{'decided':>9}{'ready':>8}{'short s':>9}"
    )
    lines = [header, "-" * len(header)]
    for mode, figures in rows:
        for f in figures:
            lines.append(
                f"{mode:<11}{f.start:>9.0f}{f.peak_rps:>10.0f}{f.need:>6}"
                f"{_seconds(f.first_scale_up):>8}{_seconds(f.decided):>9}"
                f"{_seconds(f.ready):>8}{f.short_seconds:>9}"
            )
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


LEGEND = (
    "Seconds from the start of each rising stage, worst over every phase of the HPA sync: "
    "'1st up' the first scale-up decision, 'decided' the HPA set the replicas the stage's peak "
    "needs ('need': at most 110 rps per pod, the target plus the HPA's tolerance), 'ready' that "
    "many pods serve (negative: before the load changed), 'short s' seconds the load exceeded "
    "what the ready pods accept."
)
