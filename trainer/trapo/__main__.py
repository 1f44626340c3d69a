"""Command line: `python -m trapo {train, validate-config, eval, export-onnx, experiment, report, serve}`.

The config is read and checked before torch is imported: a bad config exits 2 with one line naming the key and
the fix, in well under a second.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

EXIT_BAD_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m trapo", description="TRAPO trainer (trust-region adaptive policy "
                                "optimization) and its baselines; writes trapo-run/1.1 run directories.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train (or resume) a run")
    t.add_argument("--config", help="YAML or JSON config (omit with --resume to reuse the run's own config)")
    t.add_argument("--run-dir", required=True, help="the run directory to create (or continue with --resume)")
    t.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    t.add_argument("--max-steps", type=int, help="shorthand for --set train.steps=N")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key by its dotted path, e.g. --set optim.lr=1e-4 (repeatable)")

    v = sub.add_parser("validate-config", help="check a config: prints ok, or one line and exits 2")
    v.add_argument("config")
    v.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")

    e = sub.add_parser("eval", help="evaluate a checkpoint (or model dir) on the config's benchmarks")
    e.add_argument("checkpoint", help="a checkpoint directory (Hugging Face layout) or 'tiny'")
    e.add_argument("--config", help="config whose data.benchmarks / eval settings to use (default: the defaults)")
    e.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    e.add_argument("--out", help="write per-problem records here (one <benchmark>.jsonl each)")
    e.add_argument("--run-dir", help="the run the checkpoint belongs to: use its config (with --set on top) and write "
                   "the results into it (checkpoint_evals/<step>/), where the extension shows them")
    e.add_argument("--step", type=int, help="with --run-dir: the checkpoint's step (default: from its folder name)")
    e.add_argument("--benchmark", action="append", default=[], metavar="SPEC",
                   help="with --run-dir: evaluate this benchmark ('builtin' or a parquet/jsonl file) instead of the "
                   "config's data.benchmarks (repeatable)")
    e.add_argument("--chunk", type=int, default=0, help="with --run-dir: problems per generation call, for progress "
                   "(default 0: a whole benchmark per call, as the trainer)")
    e.add_argument("--progress", action="store_true", help="with --run-dir: JSON lines of progress on stdout")

    x = sub.add_parser("export-onnx", help="export a checkpoint to model.onnx beside it and check its logits")
    x.add_argument("checkpoint")
    x.add_argument("--out", help="output path (default: <checkpoint>/model.onnx)")
    x.add_argument("--no-verify", action="store_true", help="skip the logits comparison with PyTorch")
    c = sub.add_parser("experiment", help="the paper's comparison at toy scale: every algorithm x seeds on one "
                       "shared config, then the report (tables and curves)")
    c.add_argument("--out", default="runs/comparison", help="runs root for the experiment's run directories "
                   "(default runs/comparison); the report goes to <out>/report")
    c.add_argument("--config", help="the shared config (default: the packaged comparison.trapo.yaml)")
    c.add_argument("--algorithms", help="comma-separated subset (default: all seven)")
    c.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    c.add_argument("--jobs", type=int, default=2, help="trainer processes at once (default 2)")
    c.add_argument("--threads", type=int, help="threads per trainer (default: cores // jobs)")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key for every run alike (repeatable)")
    c.add_argument("--no-report", action="store_true", help="run only; write no report")

    r = sub.add_parser("report", help="write the comparison report (tables, curves) from the runs under a root")
    r.add_argument("root", help="the runs root (e.g. runs/comparison)")
    r.add_argument("--out", help="report folder (default <root>/report)")

    g = sub.add_parser("serve", help="the live prompt's generation service: JSON lines on stdin/stdout (see "
                       "trapo/serve.py for the protocol)")
    g.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu, cuda or cuda:N")
    g.add_argument("--engine", default="auto", help="generation engine (auto = torch)")
    g.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's)")
    return p


def _load(path, overrides, run_dir=None, resume=False):
    from .config import ConfigError, config_from_dict, load_config

    try:
        if path is None and resume and run_dir is not None:
            from .config import apply_overrides, check_environment
            from .runformat import read_run_json

            data = apply_overrides(read_run_json(Path(run_dir))["config"], overrides)
            cfg = config_from_dict(data)
            check_environment(cfg)
            return cfg
        if path is None:
            raise ConfigError("--config", "no config given", "pass --config FILE (or --resume for an existing run)")
        return load_config(path, overrides)
    except ConfigError as err:
        print(err.line(), file=sys.stderr)
        sys.exit(EXIT_BAD_CONFIG)
    except (FileNotFoundError, ValueError) as err:
        print(f"config error: --run-dir: {err}", file=sys.stderr)
        sys.exit(EXIT_BAD_CONFIG)


def cmd_train(args) -> int:
    from .signals import install_early_notice

    install_early_notice()  # Slurm's time-limit notice must not kill the process while torch is imported
    overrides = list(args.set)
    if args.max_steps is not None:
        overrides.append(f"train.steps={args.max_steps}")
    cfg = _load(args.config, overrides, args.run_dir, args.resume)
    run_dir = Path(args.run_dir)
    if not args.resume and (run_dir / "run.json").exists():
        print(f"config error: --run-dir: {run_dir} already holds a run; fix: pass --resume or a new --run-dir",
              file=sys.stderr)
        return EXIT_BAD_CONFIG
    if args.resume and not (run_dir / "run.json").exists():
        print(f"config error: --run-dir: {run_dir} holds no run to resume; fix: drop --resume or fix the path",
              file=sys.stderr)
        return EXIT_BAD_CONFIG
    from .config import ConfigError
    from .train import run_training  # heavy imports start here

    try:
        status = run_training(cfg, run_dir, resume=args.resume, log=lambda m: print(m, flush=True))
    except ConfigError as err:  # found once the model and data are known (e.g. the context window): recorded too
        print(err.line(), file=sys.stderr)
        return EXIT_BAD_CONFIG
    return 0 if status in ("finished", "stopped") else 1


def cmd_validate(args) -> int:
    _load(args.config, args.set)
    print("ok")
    return 0


def cmd_eval(args) -> int:
    if args.run_dir:
        from .eval_command import eval_into_run

        return eval_into_run(args)
    from .config import load_config

    cfg = _load(args.config, args.set) if args.config else load_config(None, args.set, check_files=False)
    import torch

    from . import models
    from .config import ConfigError
    from .distributed import resolve_device
    from .evaluate import accuracy, benchmark_metric, evaluate_benchmark
    from .generation import make_engine
    from .pipeline import build_pipeline
    from .precision import resolve
    from .runformat import dumps_line

    device = resolve_device(cfg.device)
    # evaluation only: the weights are loaded in the compute dtype (no master weights to keep)
    infer_dtype = resolve(cfg.model.dtype, cfg.model.compute_dtype, device).compute
    model, tok, name = models.load_policy(args.checkpoint, device=device, dtype=infer_dtype, seed=0,
                                          warmup=vars(cfg.model.warmup), cache_dir=cfg.model.cache_dir)
    try:
        pipe = build_pipeline(cfg, tok, model, train=False, log=lambda m: print(f"[trapo] {m}", file=sys.stderr))
    except ConfigError as err:
        print(err.line(), file=sys.stderr)
        return EXIT_BAD_CONFIG
    out = {"model": name, "benchmarks": {}}
    try:
        engine = make_engine(cfg, model, device=device,
                             log=lambda m: print(f"[trapo] {m}", file=sys.stderr, flush=True))
        for bench, problems in pipe.benchmarks.items():
            recs = evaluate_benchmark(model, tok, problems, engine=engine, build_prompt=pipe.build_prompt,
                                      score=pipe.scorer, samples_per_problem=cfg.eval.samples_per_problem,
                                      temperature=cfg.eval.temperature,
                                      max_new_tokens=cfg.eval.max_new_tokens or cfg.rollout.max_new_tokens,
                                      generator=torch.Generator(device=device).manual_seed(cfg.seed),
                                      stop_ids=pipe.stop_ids, batch_size=cfg.eval.batch_size)
            k, metric = benchmark_metric(recs, cfg.eval.samples_per_problem)
            out["benchmarks"][bench] = {"accuracy": accuracy(recs), "n": len(recs), "samples_per_problem": k,
                                        "metric": metric}
            if args.out:
                Path(args.out).mkdir(parents=True, exist_ok=True)
                with open(Path(args.out) / f"{bench}.jsonl", "w", encoding="utf-8") as fh:
                    fh.writelines(dumps_line(r) for r in recs)
        out["verify_timeouts"] = pipe.scorer.take_timeouts()
    finally:
        pipe.close()
    accs = [b["accuracy"] for b in out["benchmarks"].values()]
    out["average"] = sum(accs) / len(accs) if accs else 0.0
    print(json.dumps(out))
    return 0


def cmd_export(args) -> int:
    ckpt = Path(args.checkpoint)
    if not (ckpt / "config.json").exists():
        print(f"config error: checkpoint: {ckpt} has no config.json; fix: pass a checkpoint directory",
              file=sys.stderr)
        return EXIT_BAD_CONFIG
    from .onnx_export import export_onnx, verify_onnx

    path = export_onnx(ckpt, Path(args.out) if args.out else None)
    print(path)
    if not args.no_verify:
        diff = verify_onnx(ckpt, path)
        print(f"max abs logit difference vs PyTorch: {diff:.3g}")
    return 0


def _csv(text: str | None, kind, what: str) -> list | None:
    if text is None:
        return None
    try:
        items = [kind(x.strip()) for x in text.split(",") if x.strip()]
    except ValueError:
        print(f"config error: {what}: {text!r} is not a comma-separated list; fix: e.g. {what} 0,1,2",
              file=sys.stderr)
        sys.exit(EXIT_BAD_CONFIG)
    if not items:
        print(f"config error: {what}: empty list", file=sys.stderr)
        sys.exit(EXIT_BAD_CONFIG)
    return items


def cmd_experiment(args) -> int:
    from .experiment import DEFAULT_CONFIG, run_experiment

    config = Path(args.config) if args.config else DEFAULT_CONFIG
    if not config.is_file():
        print(f"config error: --config: {config} does not exist", file=sys.stderr)
        return EXIT_BAD_CONFIG
    return run_experiment(Path(args.out), config=config, algorithms=_csv(args.algorithms, str, "--algorithms"),
                          seeds=_csv(args.seeds, int, "--seeds"), jobs=args.jobs, threads=args.threads,
                          overrides=args.set, report=not args.no_report, out=lambda m: print(m, flush=True))


def cmd_report(args) -> int:
    from .report import find_runs, write_report

    if not find_runs(args.root):
        print(f"config error: root: no run directories under {args.root}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    print(write_report(args.root, args.out))
    return 0


def cmd_serve(args) -> int:
    from .serve import main as serve_main

    return serve_main(device=args.device, engine=args.engine, threads=args.threads)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    return {"train": cmd_train, "validate-config": cmd_validate, "eval": cmd_eval, "export-onnx": cmd_export,
            "experiment": cmd_experiment, "report": cmd_report, "serve": cmd_serve}[args.command](args)


def _exit(code: int) -> None:
    """Under torchrun, leave without the interpreter's shutdown: with gloo on CPU a rank sometimes aborted there
    ("terminate called without an active exception", after main() had returned 0 and the process group was destroyed;
    seen in CI and here about 1 run in 10 on a loaded machine), which torchrun reports as a failed run. Everything the
    trainer writes is flushed and closed by then."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    _exit(main())
