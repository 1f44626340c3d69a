"""What a run needs besides the model, resolved once from the config and the tokenizer (docs/algorithm.md §7):
the training problems and benchmarks, the prompt, the reward, the stop ids, the prefix cut's break tokens, and the
length checks that must pass before anything starts. Used by the trainer and by `python -m trapo eval`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import data as D
from .config import Config, ConfigError
from .prompting import check_prompt_style, prompt_builder, resolve_prompt_style
from .rewards import Scorer, resolve_method


@dataclass
class Pipeline:
    prompt_style: str
    build_prompt: Callable  # (tokenizer, question) -> prompt text
    scorer: Scorer
    stop_ids: list[int]
    break_ids: frozenset | None  # prefix rule `reference` only
    problems: list = field(default_factory=list)  # training problems (empty for eval only)
    benchmarks: dict = field(default_factory=dict)  # name -> problems
    reports: list = field(default_factory=list)  # LoadReport of every file read
    prompt_example: str | None = None  # the first training (else benchmark) row's prompt, as the model sees it

    def close(self) -> None:
        self.scorer.close()


def _builtin_train(cfg: Config) -> bool:
    return cfg.data.train.startswith("builtin:")


def _builtin_benchmarks(cfg: Config) -> bool:
    return all(b == "builtin" for b in cfg.data.benchmarks)


def _prompt_lengths(tokenizer, build: Callable, problems: list, chunk: int = 512) -> list[int]:
    out: list[int] = []
    for i in range(0, len(problems), chunk):
        texts = [build(tokenizer, p.question) for p in problems[i:i + chunk]]
        out += [len(x) for x in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    return out


def _keep_short(problems: list, lengths: list[int], limit: int | None, report: D.LoadReport) -> tuple[list, int]:
    """Problems whose prompt fits `limit` (counted in the report) and the longest prompt kept."""
    if limit is None:
        return problems, max(lengths, default=0)
    kept = [(p, n) for p, n in zip(problems, lengths) if n <= limit]
    report.prompt_too_long += len(problems) - len(kept)
    report.kept = len(kept)
    return [p for p, _ in kept], max((n for _, n in kept), default=0)


def build_pipeline(cfg: Config, tokenizer, model, *, train: bool = True, log: Callable[[str], None] = print,
                   model_path: str | None = None) -> Pipeline:
    """Load and check everything; raises ConfigError (one line naming the key) for what the config must fix."""
    from . import models, task
    from .evaluate import load_benchmarks
    from .micro_group import break_token_ids
    from .verify import default_workers

    # the prompt follows the training data (the benchmarks when only evaluating); the exact reward is for the
    # embedded task only: with any real file among the sources, auto scores everything with math-verify
    builtin = _builtin_train(cfg) if train else _builtin_benchmarks(cfg)
    style = resolve_prompt_style(cfg.data.prompt, builtin)
    try:
        check_prompt_style(tokenizer, style)
    except ValueError as e:
        raise ConfigError("data.prompt", str(e).split("; ")[0].removeprefix("data.prompt: "),
                          "set data.prompt: template") from None
    build = prompt_builder(style)
    method = resolve_method(cfg.reward.method, builtin and _builtin_benchmarks(cfg))
    workers = cfg.reward.workers if cfg.reward.workers is not None else default_workers()
    stop_ids = models.stop_token_ids(tokenizer, model if model is not None else model_path)
    break_ids = (break_token_ids(tokenizer.get_vocab(), cfg.micro_group.paragraph_break)
                 if cfg.micro_group.prefix_cut == "reference" else None)
    reports: list = []
    problems: list = []
    longest_train = 0
    if train:
        if builtin:
            problems = task.builtin_train_problems(cfg.data.train_size, seed=cfg.seed)
            report = D.LoadReport(source=cfg.data.train, rows=len(problems), kept=len(problems))
        else:
            problems, report = D.load_training(cfg.data.train, skip_bad_rows=cfg.data.skip_bad_rows,
                                               with_sft_targets=cfg.algorithm in ("sft", "sft_then_rl"))
        problems, longest_train = _keep_short(problems, _prompt_lengths(tokenizer, build, problems),
                                              cfg.data.max_prompt_length, report)
        reports.append(report)
        if not problems:
            raise ConfigError("data.max_prompt_length", f"{report.summary()}: every prompt is longer than "
                              f"{cfg.data.max_prompt_length} tokens", "raise data.max_prompt_length")
        log(f"training data {report.summary()}")
    benchmarks, bench_reports = load_benchmarks(cfg.data.benchmarks, cfg.data.benchmark_size, seed=0,
                                                skip_bad_rows=cfg.data.skip_bad_rows, with_reports=True)
    longest_eval = 0
    for name in list(benchmarks):
        rep = bench_reports.get(name) or D.LoadReport(source=name, rows=len(benchmarks[name]),
                                                      kept=len(benchmarks[name]))
        kept, longest = _keep_short(benchmarks[name], _prompt_lengths(tokenizer, build, benchmarks[name]),
                                    cfg.data.max_prompt_length, rep)
        if rep.prompt_too_long:
            log(f"warning: benchmark {name}: {rep.prompt_too_long} problems over data.max_prompt_length "
                f"({cfg.data.max_prompt_length} tokens) left out, as the reference does")
        if not kept:  # an empty benchmark has no accuracy (0/0): refused, never written as 0 or NaN
            key, fix = (("data.max_prompt_length", "raise data.max_prompt_length or leave the benchmark out")
                        if rep.prompt_too_long else ("data.benchmarks", "fix the file or leave it out"))
            raise ConfigError(key, f"benchmark {name}: {rep.summary()}: no problem left to evaluate", fix)
        benchmarks[name] = kept
        longest_eval = max(longest_eval, longest)
        reports.append(rep)
    _check_context(cfg, model, longest_train, longest_eval, train)
    first = problems[0] if problems else next((ps[0] for ps in benchmarks.values() if ps), None)
    example = build(tokenizer, first.question) if first is not None else None
    log(f"prompt: {style} style, reward: {method}, stop ids {stop_ids}, prefix cut: {cfg.micro_group.prefix_cut}")
    if first is not None and example is not None:
        log(f"first prompt ({first.id}): {example!r}")
    return Pipeline(style, build, Scorer(method, workers, cfg.reward.timeout_s), stop_ids, break_ids, problems,
                    benchmarks, reports, example)


def _check_context(cfg: Config, model, longest_train: int, longest_eval: int, train: bool) -> None:
    """prompt + response within the model's context window, before anything starts (docs/algorithm.md §7.4)."""
    from .models import context_window

    window = context_window(model) if model is not None else None
    if window is None:
        return
    eval_budget = cfg.eval.max_new_tokens or cfg.rollout.max_new_tokens
    checks = [("rollout.max_new_tokens", "training", longest_train, cfg.rollout.max_new_tokens)] if train else []
    checks.append(("eval.max_new_tokens", "benchmark", longest_eval, eval_budget))
    for key, what, prompt, budget in checks:
        if prompt and prompt + budget > window:
            raise ConfigError(key, f"the longest {what} prompt ({prompt} tokens) + the response budget ({budget}) = "
                              f"{prompt + budget} tokens exceeds the model's context window ({window}, "
                              "max_position_embeddings)", f"lower {key} or data.max_prompt_length, or use a model with "
                              "a longer window")

