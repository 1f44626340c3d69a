"""Health rules over a run's metrics and evaluations: pure functions, no torch, no I/O.

Each rule looks at the newest step (or evaluation) with a little history and says whether its condition holds. The
detector fires an anomaly when a rule's condition starts to hold, and again only after it has cleared, so a run that
stays degenerate is flagged once, not every step. Thresholds are the `anomalies.*` config keys.

Rules (kinds):
- `non_finite_loss`: a `loss/*` value or `optim/grad_norm` is NaN or infinite (the metrics event drops such values,
  JSON having no form for them; the anomaly names them).
- `entropy_collapse`: the mean `policy/entropy` of the last `window` steps fell below `entropy_collapse_fraction`
  times its mean over the first `window` steps of the run.
- `length_limit`: the mean `response/clip_ratio` (share of generated answers stopped at rollout.max_new_tokens) of the
  last `window` steps is at least `clip_ratio_max`.
- `reward_up_benchmark_down`: from one evaluation to the next, the benchmark average fell by at least
  `benchmark_drop` while the training reward (`reward/unguided_mean`, else `reward/mean`; mean of the `window` steps
  before each evaluation) rose by at least `reward_rise`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeGuard

KINDS = ("non_finite_loss", "entropy_collapse", "length_limit", "reward_up_benchmark_down")
REWARD_METRICS = ("reward/unguided_mean", "reward/mean")


@dataclass
class Thresholds:
    window: int = 20
    entropy_collapse_fraction: float = 0.1
    clip_ratio_max: float = 0.9
    benchmark_drop: float = 0.05
    reward_rise: float = 0.05


@dataclass
class Finding:
    """One anomaly: what, a sentence for people, the metric, its value and the threshold it crossed."""

    kind: str
    message: str
    metric: str
    value: float | None
    threshold: float


def _finite(x) -> TypeGuard[float]:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs)


def non_finite(values: dict) -> list[str]:
    """Names of loss/* metrics and optim/grad_norm whose value is not a finite number."""
    return sorted(k for k, v in values.items()
                  if (k.startswith("loss/") or k == "optim/grad_norm") and isinstance(v, (int, float))
                  and not math.isfinite(v))


def entropy_collapsed(first: list[float], last: list[float], t: Thresholds) -> Finding | None:
    """`first`/`last`: entropy of the run's first and last `window` steps (full windows only)."""
    if len(first) < t.window or len(last) < t.window:
        return None
    base, now = _mean(first), _mean(last)
    if base <= 0 or now >= t.entropy_collapse_fraction * base:
        return None
    return Finding("entropy_collapse", f"policy entropy collapsed: mean {now:.4g} over the last {t.window} steps, "
                   f"{now / base:.1%} of its {base:.4g} at the start (threshold {t.entropy_collapse_fraction:.0%})",
                   "policy/entropy", now, t.entropy_collapse_fraction * base)


def at_length_limit(last: list[float], t: Thresholds) -> Finding | None:
    if len(last) < t.window:
        return None
    now = _mean(last)
    if now < t.clip_ratio_max:
        return None
    return Finding("length_limit", f"answers at the length limit: {now:.0%} of generated answers stopped at "
                   f"rollout.max_new_tokens over the last {t.window} steps (threshold {t.clip_ratio_max:.0%})",
                   "response/clip_ratio", now, t.clip_ratio_max)


def reward_up_benchmark_down(bench_before: float, bench_now: float, reward_before: float | None,
                             reward_now: float | None, reward_metric: str, t: Thresholds) -> Finding | None:
    if reward_before is None or reward_now is None:
        return None
    drop, rise = bench_before - bench_now, reward_now - reward_before
    if drop < t.benchmark_drop or rise < t.reward_rise:
        return None
    return Finding("reward_up_benchmark_down", f"training reward rose while the benchmarks fell: {reward_metric} "
                   f"{reward_before:.3f} -> {reward_now:.3f}, benchmark average {bench_before:.3f} -> {bench_now:.3f} "
                   f"(thresholds: rise {t.reward_rise}, drop {t.benchmark_drop})",
                   "eval/average", bench_now, bench_before - t.benchmark_drop)


class AnomalyDetector:
    """Feeds steps and evaluations to the rules; returns the anomalies that start now."""

    def __init__(self, thresholds: Thresholds):
        self.t = thresholds
        w = max(1, thresholds.window)
        self.entropy_first: list[float] = []
        self.entropy_last: deque = deque(maxlen=w)
        self.clip_last: deque = deque(maxlen=w)
        self.reward_last: dict[str, deque] = {m: deque(maxlen=w) for m in REWARD_METRICS}
        self.last_eval: tuple[float, dict] | None = None  # (average, reward means at that evaluation)
        self.active: set = set()

    def _edge(self, kind: str, finding: Finding | None) -> list[Finding]:
        """A finding counts when its rule was not active before; a rule with no finding is cleared."""
        if finding is None:
            self.active.discard(kind)
            return []
        if kind in self.active:
            return []
        self.active.add(kind)
        return [finding]

    def on_step(self, values: dict) -> list[Finding]:
        out: list[Finding] = []
        bad = non_finite(values)
        finding = None
        if bad:
            finding = Finding("non_finite_loss", "non-finite values: " + ", ".join(f"{k} = {values[k]}" for k in bad),
                              bad[0], None, 0.0)
        out += self._edge("non_finite_loss", finding)
        ent = values.get("policy/entropy")
        if _finite(ent):
            if len(self.entropy_first) < self.t.window:
                self.entropy_first.append(float(ent))
            self.entropy_last.append(float(ent))
            collapsed = entropy_collapsed(self.entropy_first, list(self.entropy_last), self.t)
            out += self._edge("entropy_collapse", collapsed)
        clip = values.get("response/clip_ratio")
        if _finite(clip):
            self.clip_last.append(float(clip))
            out += self._edge("length_limit", at_length_limit(list(self.clip_last), self.t))
        for m in REWARD_METRICS:
            if _finite(values.get(m)):
                self.reward_last[m].append(float(values[m]))
        return out

    def _reward_means(self) -> dict:
        return {m: _mean(d) for m, d in self.reward_last.items() if d}

    def on_eval(self, average: float) -> list[Finding]:
        rewards = self._reward_means()
        out: list[Finding] = []
        if self.last_eval is not None and _finite(average):
            before_avg, before_rewards = self.last_eval
            metric = next((m for m in REWARD_METRICS if m in rewards and m in before_rewards), REWARD_METRICS[0])
            out = self._edge("reward_up_benchmark_down", reward_up_benchmark_down(
                before_avg, average, before_rewards.get(metric), rewards.get(metric), metric, self.t))
        if _finite(average):
            self.last_eval = (float(average), rewards)
        return out

    def replay(self, events: Iterable[dict]) -> None:
        """Rebuilds the history from a run's events (a resume), firing nothing: active rules stay active, so an
        anomaly already reported is not reported again. A `run_started` that resumed from step r drops what came
        after r before it (those steps were run again), as every reader of the run does."""
        kept: list = []
        for e in events:
            r = e.get("resumed_from_step") if e.get("type") == "run_started" else None
            if isinstance(r, int):
                kept = [x for x in kept if not isinstance(x.get("step"), int) or x["step"] <= r]
            kept.append(e)
        for e in kept:
            if e.get("type") == "metrics" and isinstance(e.get("values"), dict):
                self.on_step(e["values"])
            elif e.get("type") == "eval" and _finite(e.get("average")):
                self.on_eval(e["average"])
            elif e.get("type") == "anomaly" and e.get("kind") in KINDS:
                self.active.add(e["kind"])


def scan_events(events: Iterable[dict], thresholds: Thresholds) -> list[tuple[int | None, Finding]]:
    """The anomalies a run's events show, in order, as the trainer would have emitted them: (step, finding)."""
    detector, found = AnomalyDetector(thresholds), []
    for e in events:
        if e.get("type") == "metrics" and isinstance(e.get("values"), dict):
            found += [(e.get("step"), f) for f in detector.on_step(e["values"])]
        elif e.get("type") == "eval" and _finite(e.get("average")):
            found += [(e.get("step"), f) for f in detector.on_eval(e["average"])]
    return found
