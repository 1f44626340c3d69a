"""`python -m trapo eval CHECKPOINT --run-dir RUN`: evaluate one checkpoint of a run into the run directory.

The settings are the run's own (its config in run.json: benchmarks, samples per problem, temperature, lengths), with
`--benchmark` and `--set` on top, and the per-problem files are the trainer's (see checkpoint_evals.py for where
they go). With `--progress`, one JSON object a line on stdout as it goes:

    {"type": "start", "benchmarks": ["ops1", ...], "problems": 96, "samples_per_problem": 4, "device": "cpu", ...}
    {"type": "progress", "benchmark": "ops1", "done": 16, "total": 24, "problems_done": 16, "problems": 96}
    {"type": "benchmark", "benchmark": "ops1", "accuracy": 0.75, "n": 24, "file": "checkpoint_evals/..."}
    {"type": "result", "step": 200, "benchmarks": {...}, "average": 0.5}

SIGINT (the extension's Cancel) interrupts the decode loop at once: the benchmark in progress is dropped, the
finished ones stay written, and the command exits 130 after a {"type": "cancelled", ...} line. A bad argument exits 2
with one line, before any model is loaded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .checkpoint_evals import benchmark_identity, run_dir_of_checkpoint, step_of_checkpoint, write_benchmark

EXIT_BAD = 2
EXIT_CANCELLED = 130


def _fail(message: str) -> int:
    print(f"config error: {message}", file=sys.stderr)
    return EXIT_BAD


def eval_pipeline(cfg, tok, model):
    """The trainer's prompt, reward, stop ids and benchmarks (trapo.pipeline, as Trainer._setup builds them): the
    prompt style and the reward method are resolved against the run's training data, as the trainer resolved them,
    though no training row is read here."""
    from .pipeline import build_pipeline
    from .prompting import resolve_prompt_style
    from .rewards import resolve_method

    builtin_train = cfg.data.train.startswith("builtin:")
    cfg.data.prompt = resolve_prompt_style(cfg.data.prompt, builtin_train)
    cfg.reward.method = resolve_method(cfg.reward.method,
                                       builtin_train and all(b == "builtin" for b in cfg.data.benchmarks))
    return build_pipeline(cfg, tok, model, train=False,
                          log=lambda m: print(f"[trapo] {m}", file=sys.stderr, flush=True))


def eval_into_run(args) -> int:
    ckpt = Path(args.checkpoint)
    run_dir = Path(args.run_dir)
    if not (run_dir / "run.json").is_file():
        return _fail(f"--run-dir: {run_dir} holds no run (no run.json)")
    if not (ckpt / "config.json").is_file():
        return _fail(f"checkpoint: {ckpt} is not a checkpoint directory (no config.json); it may have been deleted")
    step = args.step if args.step is not None else step_of_checkpoint(ckpt)
    if step is None:
        return _fail(f"--step: {ckpt} is not <run>/checkpoints/<step>; pass --step N")
    if step < 0:
        return _fail(f"--step: {step} is negative")
    owner = run_dir_of_checkpoint(ckpt)
    if owner is not None and owner != run_dir.resolve():
        return _fail(f"--run-dir: {ckpt} belongs to the run {owner}, not {run_dir}")

    from .config import ConfigError, apply_overrides, config_from_dict
    from .runformat import read_run_json

    try:
        data = apply_overrides(read_run_json(run_dir)["config"], list(args.set))
        if args.benchmark:
            data.setdefault("data", {})["benchmarks"] = list(args.benchmark)
        cfg = config_from_dict(data)
    except ConfigError as err:
        print(err.line(), file=sys.stderr)
        return EXIT_BAD
    except (ValueError, FileNotFoundError) as err:
        return _fail(f"--run-dir: {err}")
    for i, b in enumerate(cfg.data.benchmarks):
        if b != "builtin" and not Path(b).is_file():
            return _fail(f"data.benchmarks[{i}]: file {b!r} not found (relative paths are read from {Path.cwd()})")
    if args.chunk < 0:
        return _fail(f"--chunk: {args.chunk} is negative (0 = a whole benchmark per generation call)")

    if cfg.rollout.engine == "vllm":  # said before a model is loaded, not as a traceback after
        from .vllm_engine import INSTALL_HINT, vllm_available

        if not vllm_available():
            return _fail(f"rollout.engine: the run generates with vllm, which this Python ({sys.executable}) lacks; "
                         f"use the environment made by {INSTALL_HINT}, or pass --set rollout.engine=torch")
    emit = (lambda obj: print(json.dumps(obj), flush=True)) if args.progress else (lambda obj: None)
    done: dict = {}
    try:
        result = _evaluate(cfg, ckpt, run_dir, step, args.chunk, emit, done)
        if not args.progress:
            print(json.dumps(result))
        return 0
    except ConfigError as err:  # what the trainer's pipeline refuses (a prompt over the context, a bad file)
        print(err.line(), file=sys.stderr)
        return EXIT_BAD
    except KeyboardInterrupt:
        emit({"type": "cancelled", "step": step, "finished": sorted(done)})
        print(f"[trapo] evaluation of step {step} cancelled; kept {len(done)} finished benchmark(s)",
              file=sys.stderr, flush=True)
        return EXIT_CANCELLED


def _evaluate(cfg, ckpt: Path, run_dir: Path, step: int, chunk: int, emit, done: dict) -> dict:
    import torch

    from . import models
    from .distributed import resolve_device
    from .evaluate import evaluate_benchmark
    from .generation import make_engine
    from .precision import resolve
    from .train import _seed_for

    device = resolve_device(cfg.device)
    # evaluation only: the weights in the compute dtype (no master weights to keep), as `trapo eval` loads them
    model, tok, name = models.load_policy(str(ckpt), device=device,
                                          dtype=resolve(cfg.model.dtype, cfg.model.compute_dtype, device).compute,
                                          seed=0)
    pipe = eval_pipeline(cfg, tok, model)
    try:
        engine = make_engine(cfg, model, device=device, log=lambda m: print(m, file=sys.stderr, flush=True))
        benches = pipe.benchmarks
        k = cfg.eval.samples_per_problem
        max_new = cfg.eval.max_new_tokens or cfg.rollout.max_new_tokens
        total = sum(len(p) for p in benches.values())
        emit({"type": "start", "step": step, "checkpoint": str(ckpt), "model": name, "device": device,
              "benchmarks": list(benches), "problems": total, "samples_per_problem": k,
              "temperature": cfg.eval.temperature, "max_new_tokens": max_new})
        finished = 0
        rel_ckpt = _relative(ckpt, run_dir)
        for bench, problems in benches.items():
            gen = torch.Generator(device=device).manual_seed(_seed_for(cfg.seed, 0, "eval", step, bench))
            size = chunk or max(len(problems), 1)
            records = []
            for start in range(0, len(problems), size):
                part = problems[start:start + size]
                records += evaluate_benchmark(model, tok, part, engine=engine, build_prompt=pipe.build_prompt,
                                              score=pipe.scorer, samples_per_problem=k,
                                              temperature=cfg.eval.temperature,
                                              max_new_tokens=max_new, generator=gen, stop_ids=pipe.stop_ids,
                                              batch_size=cfg.eval.batch_size)
                emit({"type": "progress", "benchmark": bench, "done": len(records), "total": len(problems),
                      "problems_done": finished + len(records), "problems": total})
            meta = {"samples_per_problem": k, "temperature": cfg.eval.temperature, "max_new_tokens": max_new,
                    **benchmark_identity(bench, problems), "model": name, "device": device,
                    "engine": type(engine).__name__}
            entry = write_benchmark(run_dir, step, rel_ckpt, bench, records, meta)
            finished += len(problems)
            done[bench] = entry
            emit({"type": "benchmark", "benchmark": bench, "accuracy": entry["accuracy"], "n": entry["n"],
                  "file": entry["file"]})
            print(f"[trapo] step {step} {bench}: {entry['accuracy']:.3f} over {entry['n']} problems x {k} samples",
                  file=sys.stderr, flush=True)
        accs = [e["accuracy"] for e in done.values()]
        result = {"type": "result", "step": step, "benchmarks": done, "average": sum(accs) / len(accs) if accs else 0.0}
        emit(result)
        return result
    finally:
        pipe.close()


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
