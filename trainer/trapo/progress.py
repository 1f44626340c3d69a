"""Progress of the preparation before the first step (loading the model, the tiny model's warm-up, loading data) as
`phase` events of the run format, so that a viewer can show "preparing 40%" instead of a silent wait."""

from __future__ import annotations

import time
from collections.abc import Callable

from .runformat import PhaseProgress, PreparePhase


class PhaseReporter:
    """Emits one `phase` event when a phase begins, then progress within it when the fraction moved by at least
    `min_delta` or `min_interval_s` passed since the last event, and always its end (fraction 1)."""

    def __init__(self, emit: Callable[[PhaseProgress], None], clock: Callable[[], float] = time.monotonic,
                 min_delta: float = 0.01, min_interval_s: float = 2.0):
        self.emit, self.clock, self.min_delta, self.min_interval_s = emit, clock, min_delta, min_interval_s
        self.phase: PreparePhase | None = None
        self.fraction: float | None = None
        self.last_time = float("-inf")

    def __call__(self, phase: PreparePhase, fraction: float | None, message: str) -> None:
        if fraction is not None:
            fraction = min(1.0, max(0.0, float(fraction)))
        now = self.clock()
        if phase == self.phase and fraction is not None and self.fraction is not None and fraction < 1.0:
            moved = fraction - self.fraction >= self.min_delta
            if not moved and now - self.last_time < self.min_interval_s:
                return
        self.phase, self.fraction, self.last_time = phase, fraction, now
        self.emit(PhaseProgress(phase=phase, fraction=fraction, message=message))
