"""The comparison report: reads finished run directories (trapo-run/1) and writes the paper-shaped tables and the
training curves. Pure reading and arithmetic except `write_curves` (matplotlib, imported there only).

A run's figures come only from its own events.jsonl: the last `eval` event gives its per-benchmark accuracy, the
step-0 `eval` the base model's, and the `metrics` events its training curves. Lines that do not parse are skipped
and counted, as every reader of the format does.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from .runformat import decode_number

# Table 1 and Table 2 of the paper (5-benchmark averages, Qwen2.5-Math-7B; docs/algorithm.md §6).
PAPER_TABLE1 = {"sft": 50.3, "grpo": 50.4, "sft_then_rl": 54.3, "luffy": 55.5, "trapo": 56.6}
PAPER_TABLE2 = {"grpo": 50.4, "prefix_context": 52.7, "prefix_sft": 32.3, "luffy": 53.6, "trapo": 56.6}
TABLE1_ROWS = [("sft", "SFT"), ("grpo", "GRPO"), ("sft_then_rl", "SFT-then-RL"), ("luffy", "LUFFY"),
               ("trapo", "TRAPO")]
TABLE2_ROWS = [("grpo", "GRPO"), ("prefix_context", "+ micro-groups, prefix as context only (`prefix_context`)"),
               ("prefix_sft", "+ plain SFT on prefixes (`prefix_sft`)"),
               ("luffy", "+ LUFFY's shaping (`luffy`, see note)"), ("trapo", "+ TrSFT = TRAPO (`trapo`)")]
ALGORITHM_ORDER = ["sft", "grpo", "sft_then_rl", "luffy", "prefix_context", "prefix_sft", "trapo"]
MICRO_GROUP_ALGORITHMS = ["prefix_context", "prefix_sft", "trapo"]
TAIL_SHARE = 0.1  # "end of training" figures: the mean over the last 10% of steps

# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom (standard table values); 1.96 beyond.
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t975(df: int) -> float:
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    return _T975[df - 1] if df <= len(_T975) else 1.96


def mean_ci(values: list[float]) -> tuple[float, float | None]:
    """Mean and the half-width of its 95% interval (Student's t, sample standard deviation); None for one value."""
    if not values:
        raise ValueError("mean_ci of no values")
    n = len(values)
    mean = sum(values) / n
    if n == 1:
        return mean, None
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, t975(n - 1) * math.sqrt(var / n)


@dataclass
class RunResult:
    path: Path
    name: str
    algorithm: str
    seed: int
    status: str
    steps: int  # last step with metrics
    total_steps: int
    base: dict[str, float] = field(default_factory=dict)  # step-0 eval: benchmark -> accuracy
    final: dict[str, float] = field(default_factory=dict)  # last eval: benchmark -> accuracy
    final_step: int | None = None
    evals: list[tuple[int, float]] = field(default_factory=list)  # (step, average)
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # metric -> [(step, value)]
    skipped_lines: int = 0
    train_seconds: float | None = None  # first to last metrics event
    config: dict = field(default_factory=dict)  # the resolved config from run.json
    model: dict = field(default_factory=dict)  # run_started's model: name, parameters

    @property
    def complete(self) -> bool:
        return self.status == "finished" and self.final_step == self.total_steps

    def tail_mean(self, metric: str) -> float | None:
        pts = [v for _, v in self.curves.get(metric, []) if v == v]
        if not pts:
            return None
        k = max(1, int(round(len(pts) * TAIL_SHARE)))
        return sum(pts[-k:]) / k


def load_run(run_dir: str | Path) -> RunResult:
    """One run's figures from its run.json and events.jsonl (unparseable lines skipped and counted).

    A resume (a `run_started` with `resumed_from_step` k; a later one without it starts over from 0) runs the steps
    after k again: what was read of them is dropped, so each step counts once, with the values of its last run. A
    step seen again replaces what was held for it. Non-finite values ("NaN", "Infinity", "-Infinity") are read as
    such.
    """
    run_dir = Path(run_dir)
    meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    cfg = meta.get("config", {})
    res = RunResult(path=run_dir, name=str(meta.get("name", run_dir.name)), algorithm=str(meta.get("algorithm")),
                    seed=int(cfg.get("seed", 0)), status=str(meta.get("status")), steps=0,
                    total_steps=int(cfg.get("train", {}).get("steps", 0)), config=cfg)
    times: dict[int, float] = {}  # step -> time of its metrics
    evals: list[tuple[int, dict[str, float]]] = []  # (step, benchmark -> accuracy), steps ascending
    started = False
    events = run_dir / "events.jsonl"
    if events.exists():
        with open(events, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    ev = json.loads(line)
                    kind = ev["type"]
                except (ValueError, KeyError, TypeError):
                    res.skipped_lines += 1
                    continue
                step = ev.get("step") if isinstance(ev.get("step"), int) else None
                if kind == "run_started":
                    if isinstance(ev.get("model"), dict):
                        res.model = ev["model"]
                    since = ev.get("resumed_from_step")
                    since = since if isinstance(since, int) else (0 if started else None)
                    started = True
                    if since is not None:
                        _drop_from(res.curves, evals, times, since + 1)
                elif kind == "metrics" and isinstance(ev.get("values"), dict) and step is not None:
                    _drop_from(res.curves, [], {}, step, only=ev["values"].keys())
                    times[step] = ev.get("time")
                    for k, v in ev["values"].items():
                        x = decode_number(v)
                        if x is not None:
                            res.curves.setdefault(k, []).append((step, x))
                elif kind == "eval" and isinstance(ev.get("benchmarks"), dict) and step is not None:
                    accs = {b: float(d["accuracy"]) for b, d in ev["benchmarks"].items()
                            if isinstance(d, dict) and isinstance(d.get("accuracy"), (int, float))}
                    if accs:
                        _drop_from({}, evals, {}, step)
                        evals.append((step, accs))
    res.steps = max((s for pts in res.curves.values() for s, _ in pts), default=0)
    res.evals = [(s, sum(a.values()) / len(a)) for s, a in evals]
    res.base = next((a for s, a in evals if s == 0), {})
    if evals:
        res.final_step, res.final = evals[-1]
    stamps = [t for _, t in sorted(times.items()) if isinstance(t, (int, float))]
    if stamps:
        res.train_seconds = float(stamps[-1]) - float(stamps[0])
    return res


def _drop_from(curves: dict, evals: list, times: dict, step: int, only=None) -> None:
    """Drops what is held of `step` and later: curve points (of the `only` metrics, else all), evals, step times."""
    for k in (curves if only is None else [k for k in only if k in curves]):
        pts = curves[k]
        while pts and pts[-1][0] >= step:
            pts.pop()
    while evals and evals[-1][0] >= step:
        evals.pop()
    for s in [s for s in times if s >= step]:
        del times[s]


def _fmt(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    if not values:
        return "n/a"
    mean, hw = mean_ci([v * scale for v in values])
    if hw is None:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {hw:.{digits}f}"


def group(results: list[RunResult]) -> dict[str, list[RunResult]]:
    """Complete runs by algorithm (incomplete ones are left out of every table and said so in the report)."""
    out: dict[str, list[RunResult]] = {}
    for r in results:
        if r.complete:
            out.setdefault(r.algorithm, []).append(r)
    for rs in out.values():
        rs.sort(key=lambda r: r.seed)
    return out


def benchmarks_of(results: list[RunResult]) -> list[str]:
    names: list[str] = []
    for r in results:
        for b in r.final:
            if b not in names:
                names.append(b)
    return names


def _average(accs: dict[str, float], benches: list[str]) -> float:
    return sum(accs[b] for b in benches) / len(benches)


def table1(results: list[RunResult]) -> str:
    """Markdown table shaped like the paper's Table 1: accuracy (%) per benchmark and the average, mean ± 95%
    interval over seeds; a base-model row (step-0 evaluation) and the paper's averages beside ours."""
    by = group(results)
    benches = benchmarks_of([r for rs in by.values() for r in rs])
    head = ["method", "seeds"] + benches + ["average", "paper (avg)"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    base_runs = [r for rs in by.values() for r in rs if r.base and all(b in r.base for b in benches)]
    if base_runs and benches:
        # every run evaluates the same base model at step 0 (same benchmarks, its own sampling seed)
        cells = [_fmt([r.base[b] for r in base_runs]) for b in benches]
        rows.append("| base model (step 0) | " + f"all {len(base_runs)} | " + " | ".join(cells) + " | "
                    + _fmt([_average(r.base, benches) for r in base_runs]) + " | |")
    for alg, label in TABLE1_ROWS:
        rs = [r for r in by.get(alg, []) if all(b in r.final for b in benches)]
        cells = [_fmt([r.final[b] for r in rs]) for b in benches]
        avg = _fmt([_average(r.final, benches) for r in rs]) if rs else "n/a"
        rows.append(f"| {label} | {len(rs)} | " + " | ".join(cells) + f" | **{avg}** | {PAPER_TABLE1[alg]} |")
    return "\n".join(rows)


def table2(results: list[RunResult]) -> str:
    """Markdown table shaped like the paper's Table 2 (the ablation ladder): benchmark average and, to see a
    collapse, the end-of-training unguided reward, policy entropy and response length; the paper's averages."""
    by = group(results)
    benches = benchmarks_of([r for rs in by.values() for r in rs])
    head = ["method", "seeds", "benchmark average", "unguided reward (last 10%)", "entropy (last 10%)",
            "response length (last 10%)", "paper (avg)"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for alg, label in TABLE2_ROWS:
        rs = [r for r in by.get(alg, []) if all(b in r.final for b in benches)]

        def tail(metric: str, scale: float = 1.0, digits: int = 2) -> str:
            vals = [v for v in (r.tail_mean(metric) for r in rs) if v is not None]  # noqa: B023 - called in this iteration
            return _fmt(vals, scale=scale, digits=digits) if vals else "n/a"

        avg = _fmt([_average(r.final, benches) for r in rs]) if rs else "n/a"
        rows.append(f"| {label} | {len(rs)} | **{avg}** | {tail('reward/unguided_mean', 100, 1)} | "
                    f"{tail('policy/entropy', 1, 3)} | {tail('response/mean_length', 1, 1)} | {PAPER_TABLE2[alg]} |")
    return "\n".join(rows)


def paired_table(results: list[RunResult], ref: str = "trapo") -> str:
    """`ref` minus every other algorithm on the benchmark average, paired by seed (the same seed gives both runs the
    same training problems and evaluation sampling seed): the per-seed differences, their mean ± 95% interval, and
    in how many seeds `ref` is ahead."""
    by = group(results)
    if ref not in by:
        return ""
    benches = benchmarks_of([r for rs in by.values() for r in rs])
    mine = {r.seed: _average(r.final, benches) for r in by[ref] if all(b in r.final for b in benches)}
    rows = [f"| {ref} minus | seeds | per seed (points) | mean ± 95% interval | {ref} ahead in |",
            "|---|---|---|---|---|"]
    for alg in ALGORITHM_ORDER:
        if alg == ref or alg not in by:
            continue
        theirs = {r.seed: _average(r.final, benches) for r in by[alg] if all(b in r.final for b in benches)}
        seeds = sorted(set(mine) & set(theirs))
        if not seeds:
            continue
        diffs = [100 * (mine[s] - theirs[s]) for s in seeds]
        mean, hw = mean_ci(diffs)
        cell = f"{mean:+.1f}" + (f" ± {hw:.1f}" if hw is not None else "")
        ahead = sum(d > 0 for d in diffs)
        rows.append(f"| {alg} | {len(seeds)} | {', '.join(f'{d:+.1f}' for d in diffs)} | {cell} | "
                    f"{ahead} of {len(seeds)} |")
    return "\n".join(rows)


def runs_table(results: list[RunResult]) -> str:
    """Every run: its directory, status, steps, wall time of training and its final benchmark average."""
    rows = ["| run | algorithm | seed | status | steps | training time | final average | skipped lines |",
            "|---|---|---|---|---|---|---|---|"]
    for r in sorted(results, key=lambda r: (_order(r.algorithm), r.seed)):
        avg = f"{100 * sum(r.final.values()) / len(r.final):.1f}" if r.final else "n/a"
        secs = f"{r.train_seconds:.0f} s" if r.train_seconds is not None else "n/a"
        rows.append(f"| `{r.path.name}` | {r.algorithm} | {r.seed} | {r.status} | {r.steps}/{r.total_steps} | "
                    f"{secs} | {avg} | {r.skipped_lines} |")
    return "\n".join(rows)


def _order(alg: str) -> int:
    return ALGORITHM_ORDER.index(alg) if alg in ALGORITHM_ORDER else len(ALGORITHM_ORDER)


def smooth(points: list[tuple[int, float]], window: int) -> list[tuple[int, float]]:
    """Trailing moving average over `window` points (NaNs skipped); the first points average what there is."""
    out, buf = [], []
    for step, v in points:
        buf.append(v)
        if len(buf) > window:
            buf.pop(0)
        finite = [x for x in buf if x == x]
        if finite:
            out.append((step, sum(finite) / len(finite)))
    return out


def mean_curve(runs: list[RunResult], metric: str, window: int) -> tuple[list[int], list[float], list[float],
                                                                          list[float]]:
    """Steps, mean over runs, min and max over runs of the smoothed curve (steps every run has)."""
    per_run = [dict(smooth(r.curves.get(metric, []), window)) for r in runs]
    per_run = [c for c in per_run if c]
    if not per_run:
        return [], [], [], []
    steps = sorted(set.intersection(*(set(c) for c in per_run)))
    means = [sum(c[s] for c in per_run) / len(per_run) for s in steps]
    lows = [min(c[s] for c in per_run) for s in steps]
    highs = [max(c[s] for c in per_run) for s in steps]
    return steps, means, lows, highs


CURVES = [("reward/unguided_mean", "unguided training reward (stage-1 samples)", "curves-unguided-reward.png"),
          ("response/mean_length", "response length of sampled answers (tokens)", "curves-response-length.png"),
          ("policy/entropy", "policy entropy on response tokens (nats; sft: on the expert's tokens)",
           "curves-entropy.png")]
SAMPLED_ONLY = {"response/mean_length"}  # on an SFT step the trainer logs the expert solution's length here


def rl_only(run: RunResult) -> RunResult:
    """The run with its SFT steps' points left out of SAMPLED_ONLY curves (all of sft; sft_then_rl's first phase)."""
    if run.algorithm not in ("sft", "sft_then_rl"):
        return run
    last_sft = run.total_steps if run.algorithm == "sft" else int(run.config.get("train", {}).get("sft_steps", 0))
    curves = {k: ([(s, v) for s, v in pts if s > last_sft] if k in SAMPLED_ONLY else pts)
              for k, pts in run.curves.items()}
    return dataclasses.replace(run, curves=curves)


def write_curves(results: list[RunResult], out_dir: Path, window: int = 20) -> list[Path]:
    """PNG images: one per metric in CURVES (every algorithm, mean over seeds with the min-max band), the level
    shares of the micro-group algorithms, and the benchmark average at each evaluation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = group(results)
    algs = [a for a in ALGORITHM_ORDER if a in by]
    colors = {a: plt.get_cmap("tab10")(i) for i, a in enumerate(ALGORITHM_ORDER)}
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for metric, label, fname in CURVES:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for a in algs:
            runs = [rl_only(r) for r in by[a]] if metric in SAMPLED_ONLY else by[a]
            steps, mean, lo, hi = mean_curve(runs, metric, window)
            if not steps:
                continue
            ax.plot(steps, mean, label=f"{a} ({len(by[a])} seeds)", color=colors[a], linewidth=1.4)
            ax.fill_between(steps, lo, hi, color=colors[a], alpha=0.15, linewidth=0)
        ax.set_xlabel("training step")
        ax.set_ylabel(label)
        ax.set_title(f"{label}: mean over seeds (band: min-max), moving average of {window} steps")
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / fname, dpi=110)
        plt.close(fig)
        written.append(out_dir / fname)

    mg = [a for a in MICRO_GROUP_ALGORITHMS if a in by]
    if mg:
        fig, axes = plt.subplots(1, len(mg), figsize=(4.2 * len(mg), 3.8), sharey=True, squeeze=False)
        for ax, a in zip(axes[0], mg):
            layers, steps = [], None
            for lvl in range(4):
                s, mean, _, _ = mean_curve(by[a], f"prefix/level_{lvl}", window)
                steps = s if steps is None else steps
                layers.append(mean)
            if steps:
                ax.stackplot(steps, layers, labels=[f"level {i}" for i in range(4)],
                             colors=["#4c72b0", "#55a868", "#dd8452", "#c44e52"], alpha=0.85)
            ax.set_title(f"{a}", fontsize=10)
            ax.set_xlabel("training step")
            ax.set_ylim(0, 1)
        axes[0][0].set_ylabel("share of prompts at each guidance level")
        axes[0][-1].legend(fontsize=8, loc="center right")
        fig.suptitle(f"guidance level shares (0 = unguided enough ... 3 = full expert), mean over seeds, "
                     f"moving average of {window} steps", fontsize=9)
        fig.tight_layout()
        fig.savefig(out_dir / "curves-level-shares.png", dpi=110)
        plt.close(fig)
        written.append(out_dir / "curves-level-shares.png")

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for a in algs:
        per_run = [dict(r.evals) for r in by[a]]
        steps = sorted(set.intersection(*(set(c) for c in per_run)))
        if steps:
            ax.plot(steps, [100 * sum(c[s] for c in per_run) / len(per_run) for s in steps], marker="o",
                    label=a, color=colors[a])
    ax.set_xlabel("training step")
    ax.set_ylabel("benchmark average (%)")
    ax.set_title("held-out benchmark average at each evaluation, mean over seeds", fontsize=9)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "curves-benchmark-average.png", dpi=110)
    plt.close(fig)
    written.append(out_dir / "curves-benchmark-average.png")
    return written


def describe_budget(results: list[RunResult]) -> str:
    """The shared budget in words, from the runs' own resolved configs (it says so when runs differ in it)."""
    done = [r for r in results if r.complete] or results
    if not done:
        return ""

    def budget(r: RunResult) -> dict:
        """What must be equal across runs: everything but the algorithm, seed, name, threads and sft_steps (which
        only sft_then_rl reads)."""
        c = {k: v for k, v in r.config.items() if k not in ("algorithm", "seed", "name")}
        c["train"] = {k: v for k, v in (c.get("train") or {}).items() if k not in ("threads", "sft_steps")}
        return c

    ref = done[0]
    differ = [r.path.name for r in done[1:] if budget(r) != budget(ref)]
    two_phase = next((r for r in done if r.algorithm == "sft_then_rl"), None)
    c = ref.config
    tr, data, ev, ro = c.get("train", {}), c.get("data", {}), c.get("eval", {}), c.get("rollout", {})
    params = ref.model.get("parameters")
    model = c.get("model", {}).get("name_or_path", "?")
    model_txt = f"`{model}` ({params:,} parameters)" if isinstance(params, int) else f"`{model}`"
    secs = [r.train_seconds for r in done if r.train_seconds is not None]
    text = (f"Budget of every run: base model {model_txt}; {tr.get('steps')} steps of {tr.get('prompts_per_step')} "
            f"prompts from {data.get('train_size')} generated training problems; learning rate "
            f"{c.get('optim', {}).get('lr')}; rollouts at temperature {ro.get('temperature')}, at most "
            f"{ro.get('max_new_tokens')} new tokens; benchmarks {', '.join(benchmarks_of(done))} with "
            f"{data.get('benchmark_size')} problems x {ev.get('samples_per_problem')} samples at temperature "
            f"{ev.get('temperature')}, evaluated every {ev.get('every')} steps"
            + (f"; sft_then_rl: {two_phase.config.get('train', {}).get('sft_steps')} SFT steps, then grpo"
               if two_phase else "")
            + f". Training time (first to last step) summed over "
            f"{len(secs)} runs: {sum(secs) / 60:.0f} min.")
    if differ:
        text += f" Runs whose settings differ from `{ref.path.name}`: {', '.join(differ)}."
    return text


def find_runs(root: str | Path) -> list[Path]:
    """Run directories directly under `root` (those with a run.json)."""
    root = Path(root)
    return sorted(p for p in root.iterdir() if (p / "run.json").is_file()) if root.is_dir() else []


def write_report(root: str | Path, out_dir: str | Path | None = None, *, settings: str = "",
                 images: bool = True) -> Path:
    """Reads every run under `root`, writes report.md, results.json and (images=True) the curves into out_dir
    (default <root>/report). Returns the path of report.md."""
    root = Path(root)
    out = Path(out_dir) if out_dir else root / "report"
    out.mkdir(parents=True, exist_ok=True)
    results = [load_run(p) for p in find_runs(root)]
    incomplete = [r for r in results if not r.complete]
    by = group(results)
    benches = benchmarks_of([r for rs in by.values() for r in rs])
    figures = write_curves(results, out) if images and by else []
    data = {
        "runs": [{"dir": r.path.name, "algorithm": r.algorithm, "seed": r.seed, "status": r.status,
                  "steps": r.steps, "total_steps": r.total_steps, "base": r.base, "final": r.final,
                  "final_step": r.final_step, "train_seconds": r.train_seconds, "skipped_lines": r.skipped_lines,
                  "tail": {m: r.tail_mean(m) for m in ("reward/unguided_mean", "policy/entropy",
                                                         "response/mean_length")}}
                 for r in results],
        "summary": {a: dict(zip(("mean", "ci95"), mean_ci([_average(r.final, benches) for r in rs])))
                    for a, rs in by.items() if all(b in r.final for r in rs for b in benches)},
    }
    (out / "results.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    lines = ["# TRAPO and its baselines on the embedded task", ""]
    for para in (settings, describe_budget(results)):
        if para:
            lines += [para, ""]
    lines += ["Accuracy in %, mean ± 95% interval over seeds (Student's t). The paper's column is its 5-benchmark "
              "average on Qwen2.5-Math-7B, for the shape of the comparison only.", "",
              "## Table 1: methods", "", table1(results), "",
              "## Paired by seed", "",
              "The same seed gives two runs the same training problems and evaluation sampling seed, so differences "
              "paired by seed are less noisy than the intervals above.", "", paired_table(results), "",
              "## Table 2: the ablation ladder", "",
              "The paper's `+ LUFFY's shaping` row adds LUFFY's policy shaping to micro-groups; the trainer's `luffy` "
              "is LUFFY itself (G-1 unguided samples and one full expert solution, shaped), so that row is only "
              "shaped like the paper's.", "", table2(results), ""]
    if figures:
        lines += ["## Curves", ""] + [f"![{f.stem}]({f.name})" for f in figures] + [""]
    lines += ["## Runs", "", runs_table(results), ""]
    if incomplete:
        lines += [f"Left out of the tables (not finished to their last evaluation): "
                  f"{', '.join(r.path.name for r in incomplete)}.", ""]
    report = out / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    return report
