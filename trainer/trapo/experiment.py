"""The toy-scale reproduction of the paper's comparison: every algorithm x every seed on one shared config, run as
ordinary trainer processes writing ordinary run directories under one runs root, then the report (`report.py`).

- One config (default: configs/comparison.trapo.yaml) gives the shared budget; each run only sets `algorithm`,
  `seed`, `name` and `train.threads`. Extra `--set` overrides apply to every run alike.
- `jobs` trainer processes run at once, each with cores // jobs threads; the slowest runs start first.
- Nothing is lost: a finished run is kept and skipped; an interrupted one (Ctrl-C, a killed process, a crash) is
  continued with `--resume` from its last checkpoint the next time the same command runs. Ctrl-C stops every
  trainer cleanly (each ends `stopped`).
- Each trainer's output goes to <run>/logs/trainer.log, as the run format asks of whoever launches it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .report import ALGORITHM_ORDER, load_run, write_report

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "comparison.trapo.yaml"
# relative cost of a run, an RL run = 1 (the comparison run of 2026-11-25: sft ~120 s, sft_then_rl ~335 s, the RL
# algorithms 420-1070 s); only the order in which runs start depends on it
_COST = {"sft": 0.25, "sft_then_rl": 0.65}


@dataclass
class PlannedRun:
    algorithm: str
    seed: int
    run_dir: Path

    @property
    def name(self) -> str:
        return f"{self.algorithm}-seed{self.seed}"


def plan(root: Path, algorithms: list[str], seeds: list[int]) -> list[PlannedRun]:
    """Every (algorithm, seed), costliest algorithms first so that the cheap ones fill the gaps at the end."""
    runs = [PlannedRun(a, s, root / f"{a}-seed{s}") for s in seeds for a in algorithms]
    return sorted(runs, key=lambda r: (-_COST.get(r.algorithm, 1.0), r.seed, ALGORITHM_ORDER.index(r.algorithm)
                                       if r.algorithm in ALGORITHM_ORDER else 99))


def state(run: PlannedRun) -> str:
    """'new' (no run yet), 'done' (finished), or 'resume' (started and not finished: stopped, failed, killed)."""
    meta = run.run_dir / "run.json"
    if not meta.exists():
        return "new"
    try:
        status = json.loads(meta.read_text(encoding="utf-8")).get("status")
    except ValueError:
        return "resume"
    return "done" if status == "finished" else "resume"


def command(run: PlannedRun, config: Path, overrides: list[str], threads: int, resume: bool) -> list[str]:
    cmd = [sys.executable, "-m", "trapo", "train", "--run-dir", str(run.run_dir)]
    if resume:
        cmd.append("--resume")  # the run's own config (with its algorithm, seed and budget) is reused
    else:
        cmd += ["--config", str(config)]
        for o in overrides:
            cmd += ["--set", o]
        cmd += ["--set", f"algorithm={run.algorithm}", "--set", f"seed={run.seed}", "--set", f"name={run.name}"]
    return cmd + ["--set", f"train.threads={threads}"]


def _validate(config: Path, overrides: list[str], algorithms: list[str]) -> None:
    """Refuse a bad config (or override, or algorithm) before anything starts: exits 2 with the trainer's reason."""
    from .config import ConfigError, load_config

    for a in algorithms:
        try:
            load_config(config, list(overrides) + [f"algorithm={a}"])
        except ConfigError as err:
            print(f"{err.line()} (algorithm {a})", file=sys.stderr)
            sys.exit(2)
        except (FileNotFoundError, ValueError) as err:
            print(f"config error: --config: {err}", file=sys.stderr)
            sys.exit(2)


def _fmt_s(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


def run_experiment(root: Path, *, config: Path = DEFAULT_CONFIG, algorithms: list[str] | None = None,
                   seeds: list[int] | None = None, jobs: int = 2, threads: int | None = None,
                   overrides: list[str] | None = None, report: bool = True, out=print) -> int:
    algorithms = list(algorithms or ALGORITHM_ORDER)
    seeds = list(seeds if seeds is not None else [0, 1, 2])
    overrides = list(overrides or [])
    unknown = [a for a in algorithms if a not in ALGORITHM_ORDER]
    if unknown:
        print(f"config error: --algorithms: unknown {unknown}; known: {', '.join(ALGORITHM_ORDER)}", file=sys.stderr)
        return 2
    if jobs < 1:
        print("config error: --jobs: must be >= 1", file=sys.stderr)
        return 2
    _validate(config, overrides, algorithms)
    threads = threads or max(1, (os.cpu_count() or 1) // jobs)
    root.mkdir(parents=True, exist_ok=True)
    runs = plan(root, algorithms, seeds)
    todo = [r for r in runs if state(r) != "done"]
    out(f"[experiment] {len(runs)} runs ({len(algorithms)} algorithms x {len(seeds)} seeds) under {root}; "
        f"{len(runs) - len(todo)} already finished; {jobs} at a time, {threads} thread(s) each; config {config}")
    t0 = time.time()
    active: dict[str, tuple[PlannedRun, subprocess.Popen, float, TextIO]] = {}
    failed: list[str] = []
    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        if not stopping:
            stopping = True
            out(f"[experiment] stopping {len(active)} trainer(s); each ends 'stopped' and is resumed by the same "
                f"command")
            for _, proc, _, _ in active.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    done = len(runs) - len(todo)
    try:
        while (todo and not stopping) or active:
            while todo and not stopping and len(active) < jobs:
                r = todo.pop(0)
                resume = state(r) == "resume"
                (r.run_dir / "logs").mkdir(parents=True, exist_ok=True)
                log = open(r.run_dir / "logs" / "trainer.log", "a", encoding="utf-8")
                cmd = command(r, config, overrides, threads, resume)
                proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)  # Ctrl-C reaches it through us, once
                active[r.name] = (r, proc, time.time(), log)
                out(f"[experiment] {'resume' if resume else 'start '} {r.name} (pid {proc.pid})")
            time.sleep(0.5)
            for name, (r, proc, started, log) in list(active.items()):
                code = proc.poll()
                if code is None:
                    continue
                log.close()
                del active[name]
                res = load_run(r.run_dir) if (r.run_dir / "run.json").exists() else None
                if code == 0 and res is not None and res.complete:
                    done += 1
                    avg = 100 * sum(res.final.values()) / max(1, len(res.final))
                    left = len(todo) + len(active)
                    elapsed = time.time() - t0
                    out(f"[experiment] {done}/{len(runs)} {name}: benchmark average {avg:.1f}% "
                        f"({_fmt_s(time.time() - started)}; {left} left; {_fmt_s(elapsed)} so far)")
                elif stopping:
                    out(f"[experiment] {name} stopped at step {res.steps if res else 0}")
                else:
                    failed.append(name)
                    out(f"[experiment] {name} exited with {code}; see {r.run_dir / 'logs' / 'trainer.log'} "
                        f"(run the same command again to resume it)")
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if stopping:
        out(f"[experiment] stopped after {_fmt_s(time.time() - t0)}; run the same command to continue")
        return 130
    out(f"[experiment] {done}/{len(runs)} runs finished in {_fmt_s(time.time() - t0)}")
    if report:
        path = write_report(root, settings=settings_line(config, overrides, seeds))
        out(f"[experiment] report: {path}")
    return 1 if failed else 0


def settings_line(config: Path, overrides: list[str], seeds: list[int]) -> str:
    extra = f", overrides {' '.join(overrides)}" if overrides else ""
    return f"Config `{config.name}`{extra}; seeds {', '.join(map(str, seeds))}."
