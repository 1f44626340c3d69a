"""GPU check: one command that prints what a real-scale run needs to know about this GPU (docs/scale.md §3).

    cd trainer && python bench/gpu_check.py --out OUT          # on a GPU: well under 8 minutes on an H200
    cd trainer && python bench/gpu_check.py --small --out OUT  # CPU, a small model, end to end (a pytest test)

Prints a table and writes OUT/gpu_check.json (+ the TRAPO run's run.json and events.jsonl):

1. train step: one bf16 mixed-precision training step (fp32 master weights and AdamW state, autocast) of a
   random-weight Qwen2.5-0.5B-architecture model (24 layers, hidden 896, 151,936 vocabulary) on 16 rows x 2,048
   tokens in micro-batches of 16,384 tokens; model FLOPs 6 N + 6 L H S per token; MFU against the GPU's bf16 dense
   peak from its name (H100/H200 SXM 989 TFLOP/s) and against a measured bf16 matmul.
2. decode: tokens/s of our engine (TorchGenerator) on that model at batch 64 (128-token prompts, 256 new tokens).
3. memory: peak memory of one training pass (forward + TRAPO loss + backward) at a 4,096-token response, beyond the
   parameter gradients, per token and per token x vocabulary, vocabulary-chunked head vs full logits.
4. trapo run: 10 TRAPO steps on the device (a 0.5B-architecture body with the tiny tokenizer's vocabulary, random
   weights, the embedded arithmetic task), eval and checkpoint at the end; the run directory is validated.

Needs only torch, transformers, safetensors and pyyaml (all on the GPU machine). jsonschema validates the run
directory when it is importable (else the checks are structural: every line parses, the events expected are there);
math-verify is not needed (the embedded task's answers are integers). `bench/gpu/prepare_carry.sh` builds a folder
with both for Python 3.12 to carry to a machine without a registry.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

# bf16 dense tensor-core peaks by device name (vendor datasheets, SXM parts where there are two)
PEAK_BF16 = [("H200", 989e12), ("H100 PCIe", 756e12), ("H100", 989e12), ("H800", 989e12), ("A100", 312e12),
             ("A800", 312e12), ("L40S", 362e12), ("L40", 181e12), ("A10G", 70e12), ("A10", 125e12), ("L4", 121e12),
             ("RTX 4090", 165e12), ("B200", 2250e12)]


def qwen_config(small: bool, vocab: int | None = None):
    from transformers import Qwen2Config

    if small:
        return Qwen2Config(vocab_size=vocab or 2048, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                           tie_word_embeddings=True, bos_token_id=0, eos_token_id=3, pad_token_id=1)
    # Qwen2.5-0.5B's architecture (its config.json), random weights
    return Qwen2Config(vocab_size=vocab or 151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                       num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768, rope_theta=1e6,
                       rms_norm_eps=1e-6, tie_word_embeddings=True, bos_token_id=0, eos_token_id=3, pad_token_id=1)


def build(small: bool, device: str, vocab: int | None = None):
    from transformers import Qwen2ForCausalLM

    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2ForCausalLM(qwen_config(small, vocab))
    return model.float()


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_flops(model) -> int:
    """Weights that multiply every token: all Linear layers, the output head included (tied or not)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def named_peak(device: str) -> tuple[float | None, str]:
    if not device.startswith("cuda"):
        return None, "cpu"
    name = torch.cuda.get_device_name(torch.device(device))
    for key, peak in PEAK_BF16:
        if key in name:
            return peak, name
    return None, name


def measured_matmul_peak(device: str, small: bool) -> float:
    n = 1024 if small else 8192
    dt = torch.bfloat16 if device.startswith("cuda") else torch.float32
    a = torch.randn(n, n, device=device, dtype=dt)
    b = torch.randn(n, n, device=device, dtype=dt)
    for _ in range(3):
        a @ b
    sync(device)
    reps = 3 if small else 50
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - t)


def trainer_for(model, device: str, sets: list[str]):
    from trapo import distributed as D
    from trapo.config import load_config
    from trapo.train import Trainer

    cfg = load_config(None, [f"device={device}", "model.compute_dtype=bfloat16", "optim.lr=1e-6", *sets])
    return Trainer.for_updates(cfg, model, D.DistInfo(device=device))


def check_train_step(small: bool, device: str, model) -> dict:
    from memory import PROMPT, token_batch

    rows, length, budget = (4, 60, 256) if small else (16, 2048 - PROMPT, 16384)
    trainer = trainer_for(model, device, ["train.share_prompts=false", f"train.micro_batch_size={rows}",
                                          f"train.max_tokens_per_micro_batch={budget}",
                                          f"rollout.max_new_tokens={length}"])
    batch = token_batch(rows, length, model.config.vocab_size)
    trainer.train_batch(batch, "trapo", False)  # warm-up (kernels, optimizer state)
    sync(device)
    reps = 2 if small else 5
    t = time.perf_counter()
    for _ in range(reps):
        trainer.train_batch(batch, "trapo", False)
    sync(device)
    step_s = (time.perf_counter() - t) / reps
    c = model.config
    seq = PROMPT + length
    tokens = rows * seq
    flops = tokens * (6 * matmul_flops(model) + 6 * c.num_hidden_layers * c.hidden_size * seq)
    achieved = flops / step_s
    peak, name = named_peak(device)
    measured = measured_matmul_peak(device, small)
    out = {"ok": True, "device": name, "tokens": tokens, "step_s": step_s, "tflops": achieved / 1e12,
           "peak_tflops": peak / 1e12 if peak else None, "matmul_tflops": measured / 1e12,
           "mfu": achieved / peak if peak else None, "mfu_vs_matmul": achieved / measured,
           "params": sum(p.numel() for p in model.parameters())}
    mfu = f"MFU {out['mfu']:.1%} of {out['peak_tflops']:.0f}" if peak else "MFU n/a (no named bf16 peak)"
    out["summary"] = (f"{step_s * 1000:.0f} ms for {tokens:,} tokens, {out['tflops']:.1f} TFLOP/s; {mfu}; "
                      f"{out['mfu_vs_matmul']:.1%} of a measured {'bf16' if peak else ''} matmul "
                      f"({out['matmul_tflops']:.1f} TFLOP/s)")
    return out


def check_decode(small: bool, device: str, model) -> dict:
    import random

    from trapo import precision as P
    from trapo.generation import TorchGenerator

    batch, prompt_len, new = (64, 16, 8) if small else (64, 128, 256)
    rng = random.Random(0)
    prompts = [[rng.randrange(4, model.config.vocab_size) for _ in range(prompt_len)] for _ in range(batch)]
    prec = P.resolve("float32", "bfloat16", device)
    gen = torch.Generator(device=device).manual_seed(0)
    engine = TorchGenerator()
    with prec.autocast():
        engine.generate(model, prompts[:8], max_new_tokens=4, temperature=1.0, eos_token_id=-1, pad_token_id=1,
                        generator=gen)
        sync(device)
        t = time.perf_counter()
        outs = engine.generate(model, prompts, max_new_tokens=new, temperature=1.0, eos_token_id=-1, pad_token_id=1,
                               generator=gen)
        sync(device)
    dt = time.perf_counter() - t
    n = sum(len(o) for o in outs)
    ok = n == batch * new
    return {"ok": ok, "batch": batch, "new_tokens": new, "tokens_per_s": n / dt, "seconds": dt,
            "summary": f"{n / dt:,.0f} tokens/s ({batch} rows x {new} new tokens in {dt:.2f} s, fp32 weights + "
                       f"bf16 autocast, sampling on the device)"}


def _peak_pass(trainer, batch, device: str) -> int:
    """Peak bytes above the start of one pass (forward + loss + backward), parameter gradients excluded."""
    import gc

    from memory import _NoStep, _status_kb

    model = trainer.model
    trainer.optimizer = _NoStep(model.parameters())
    trainer.optimizer.zero_grad()
    gc.collect()
    grads = sum(p.numel() * p.element_size() for p in model.parameters())
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        trainer.train_batch(batch, "trapo", False)
        sync(device)
        peak = torch.cuda.max_memory_allocated()
    else:
        start = _status_kb("VmRSS") * 1024
        Path("/proc/self/clear_refs").write_text("5")
        trainer.train_batch(batch, "trapo", False)
        peak = _status_kb("VmHWM") * 1024
    return peak - start - grads


def check_memory(small: bool, device: str, model) -> dict:
    from memory import PROMPT, token_batch

    length = 256 if small else 4096
    v = model.config.vocab_size
    batch = token_batch(1, length, v)
    tokens = PROMPT + length
    res = {}
    for mode, chunk in (("chunked", 8192), ("full", 0)):
        trainer = trainer_for(model, device, ["train.share_prompts=false", f"train.logprob_vocab_chunk={chunk}",
                                              f"rollout.max_new_tokens={length}"])
        trainer.train_batch(token_batch(1, 8, v, seed=1), "trapo", False)
        res[mode] = _peak_pass(trainer, batch, device)
    per = {m: b / tokens for m, b in res.items()}
    ok = per["chunked"] / v <= 2.0 or small  # the goal holds at real vocabularies; a 2k vocabulary is all overhead
    return {"ok": ok, "length": length, "tokens": tokens, "vocab": v, "bytes": res,
            "bytes_per_token": per, "bytes_per_token_vocab": {m: x / v for m, x in per.items()},
            "summary": f"{per['chunked'] / v:.2f} bytes/token/V chunked vs {per['full'] / v:.2f} full logits "
                       f"({per['chunked'] / 1e3:,.0f} vs {per['full'] / 1e3:,.0f} kB/token, {tokens:,} tokens, "
                       f"V={v:,}; beyond the parameter gradients)"}


def validate_run(run_dir: Path) -> tuple[bool, str]:
    lines = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines() if x.strip()]
    run = json.loads((run_dir / "run.json").read_text())
    how = "structural checks"
    try:
        import jsonschema

        from trapo.runformat import schema_path

        def check(name, obj):
            jsonschema.validate(obj, json.loads(schema_path(name).read_text()))

        check("run.schema.json", run)
        for e in lines:
            check("events.schema.json", e)
        for f in (run_dir / "rollouts").glob("*.jsonl"):
            for x in f.read_text().splitlines():
                check("rollout.schema.json", json.loads(x))
        for f in (run_dir / "evals").rglob("*.jsonl"):
            for x in f.read_text().splitlines():
                check("eval.schema.json", json.loads(x))
        how = "jsonschema"
    except ImportError:
        pass
    types = [e["type"] for e in lines]
    metrics = [e for e in lines if e["type"] == "metrics"]
    ck = run_dir / "checkpoints" / "000010"
    problems = []
    if run.get("status") != "finished":
        problems.append(f"status {run.get('status')}")
    if len(metrics) != 10:
        problems.append(f"{len(metrics)} metrics events")
    for t in ("run_started", "prefix_allocation", "rollouts", "eval", "checkpoint", "run_finished"):
        if t not in types:
            problems.append(f"no {t} event")
    for f in ("config.json", "model.safetensors", "trainer_state.pt", "sharded/.metadata"):
        if not (ck / f).exists():
            problems.append(f"checkpoint lacks {f}")
    if any(not all(math.isfinite(v) for v in m["values"].values()) for m in metrics):
        problems.append("a metric is not finite")
    return (not problems), (how + ("; " + ", ".join(problems) if problems else ""))


def check_trapo_run(small: bool, device: str, out_dir: Path) -> dict:
    from trapo.config import load_config
    from trapo.tokenizer_tiny import build_tiny_tokenizer, save_tokenizer
    from trapo.train import Trainer

    tok = build_tiny_tokenizer()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model"
        build(small, "cpu", vocab=len(tok)).save_pretrained(model_dir)
        save_tokenizer(tok, model_dir)
        run_dir = Path(tmp) / "run"
        sets = [f"device={device}", f"model.name_or_path={model_dir}", "algorithm=trapo", "data.train_size=64",
                "data.benchmark_size=4", f"rollout.max_new_tokens={8 if small else 64}", "train.steps=10",
                f"train.prompts_per_step={2 if small else 8}", "eval.every=10", "eval.at_start=false",
                "eval.samples_per_problem=1", "checkpoint.every=10", "checkpoint.onnx=false",
                "logging.token_stats=true", "optim.lr=1e-5"]
        if small:
            sets += ["model.compute_dtype=bfloat16", "train.threads=2"]
        cfg = load_config(None, sets)
        printed: list[str] = []
        t = time.perf_counter()
        status = Trainer(cfg, run_dir, log=printed.append).run()
        dt = time.perf_counter() - t
        ok, how = validate_run(run_dir)
        for name in ("run.json", "events.jsonl"):
            (out_dir / f"trapo_run_{name}").write_bytes((run_dir / name).read_bytes())
        metrics = [json.loads(x)["values"] for x in (run_dir / "events.jsonl").read_text().splitlines()
                   if '"metrics"' in x]
    step_s = sum(m["perf/step_s"] for m in metrics[1:]) / max(len(metrics) - 1, 1) if metrics else float("nan")
    prec = next((m for m in printed if "precision:" in m), "")
    return {"ok": ok and status == "finished", "status": status, "seconds": dt, "step_s": step_s,
            "validation": how, "precision": prec,
            "summary": f"{status}, 10 steps in {dt:.0f} s ({step_s:.2f} s/step after the first); run directory "
                       f"valid ({how}); {prec.replace('[trapo] precision: ', '')}"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="a small model on the CPU (or --device), end to end")
    ap.add_argument("--device", default=None, help="default: cuda when available (cpu with --small)")
    ap.add_argument("--out", default="gpu_check_out", help="folder for gpu_check.json and the run's events")
    args = ap.parse_args()
    device = args.device or ("cpu" if args.small or not torch.cuda.is_available() else "cuda:0")
    if not args.small and not device.startswith("cuda"):
        print("no GPU: run with --small for the CPU check", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    head = (f"gpu_check {'--small ' if args.small else ''}on {device}: torch {torch.__version__}, transformers "
            f"{transformers.__version__}, python {sys.version.split()[0]}")
    print(head, flush=True)
    t0 = time.perf_counter()
    results: dict = {}
    model = build(args.small, device)
    for name, fn in (("train step", lambda: check_train_step(args.small, device, model)),
                     ("decode", lambda: check_decode(args.small, device, model)),
                     ("memory", lambda: check_memory(args.small, device, model)),
                     ("trapo run", lambda: check_trapo_run(args.small, device, out_dir))):
        t = time.perf_counter()
        try:
            results[name] = fn()
        except Exception as exc:  # one failed check must not hide the others' figures
            results[name] = {"ok": False, "summary": f"{type(exc).__name__}: {exc}",
                             "traceback": traceback.format_exc()}
        results[name]["check_s"] = time.perf_counter() - t
        print(f"  {name}: {'ok' if results[name]['ok'] else 'FAILED'} ({results[name]['check_s']:.0f} s)",
              flush=True)
        if name == "memory":
            del model
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
    total = time.perf_counter() - t0
    print()
    print(f"{'check':<12}{'result':<8}figures")
    for name, r in results.items():
        print(f"{name:<12}{'ok' if r['ok'] else 'FAILED':<8}{r['summary']}")
    print(f"total {total:.0f} s")
    (out_dir / "gpu_check.json").write_text(json.dumps({"header": head, "total_s": total, "results": results},
                                                       indent=2, default=str))
    for r in results.values():
        if "traceback" in r:
            print(r["traceback"], file=sys.stderr)
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
