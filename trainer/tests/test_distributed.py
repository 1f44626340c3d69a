"""Several processes: 2 gloo processes at the same global batch give the same losses and update as 1 process; a Stop
under Slurm reaches every rank twice and still saves."""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from trapo import distributed as D
from trapo.rollout import Sample, build_token_batch
from trapo.train import Trainer

ROOT = Path(__file__).resolve().parents[1]
N_PROMPTS, G = 4, 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _samples(vocab: int) -> list:
    """A fixed global batch: 4 prompts x 4 samples, owned prefixes, continuations, varied lengths and advantages."""
    rng = random.Random(0)
    out = []
    for p in range(N_PROMPTS):
        prompt = [rng.randrange(4, vocab) for _ in range(3 + p)]
        for j in range(G):
            prefix = [rng.randrange(4, vocab) for _ in range(2 + j % 2)] if j >= 2 else []
            cont = [rng.randrange(4, vocab) for _ in range(1 + (p + j) % 4)]
            s = Sample(p, j, min(j, 2), j >= 2, 0.25 if j >= 2 else 0.0, prompt, prefix, cont, j == 3, False, False)
            s.advantage = [0.75, -0.25, -0.25, -0.25][(j + p) % 4]
            out.append(s)
    return out


def _update(rank: int, world: int, port: int, strategy: str, out_dir: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from conftest import tiny_config

    from trapo.tiny import build_tiny_model
    from trapo.tokenizer_tiny import build_tiny_tokenizer

    # the world-size-invariant scales: the reference's defaults (constant = / (L_max x processes), the entropy bonus per
    # micro-batch) change with the number of processes by design (see losses.token_weights)
    cfg = tiny_config(Path(out_dir), **{"distributed.strategy": strategy, "train.micro_batch_size": 3,
                                        "loss.normalization": "constant_mean", "loss.entropy_normalization": "batch"})
    info = D.setup("cpu", strategy if world > 1 else "none", "gloo")
    tok = build_tiny_tokenizer()
    model = build_tiny_model(tok, seed=0)
    trainer = Trainer.for_updates(cfg, model, info)
    samples = [s for s in _samples(len(tok)) if s.prompt_index % world == rank]  # prompts sharded across ranks
    stats = trainer.train_batch(build_token_batch(samples, tok.pad_token_id), "trapo", want_tokens=False)
    stats.pop("_tokens")
    # the gradients of the step (left in .grad after optimizer.step); Adam's first step is ~lr * sign(g), so
    # comparing parameters would amplify float noise in near-zero gradients
    grads = {}
    for name, p in D.unwrap(trainer.model).named_parameters():
        g = p.grad
        grads[name] = (g.full_tensor() if hasattr(g, "full_tensor") else g).detach().cpu().clone()
    if rank == 0:
        torch.save({"stats": stats, "grads": grads}, Path(out_dir) / f"result-{world}.pt")
    D.teardown(info)
    if world > 1:
        # As `python -m trapo` does under torchrun (trapo/__main__.py: _exit): gloo sometimes aborts a process in the
        # interpreter's shutdown, after all the work is done.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _run(world: int, strategy: str, tmp_path: Path) -> dict:
    if world == 1:
        _update(0, 1, 0, strategy, str(tmp_path))
    else:
        mp.spawn(_update, args=(world, _free_port(), strategy, str(tmp_path)), nprocs=world, join=True)
    return torch.load(tmp_path / f"result-{world}.pt")


@pytest.mark.parametrize("strategy", ["ddp", "fsdp2"])
def test_two_processes_agree_with_one(tmp_path, strategy):
    one = _run(1, strategy, tmp_path)
    two = _run(2, strategy, tmp_path)
    for k in ("loss/total", "loss/trsft", "loss/policy", "loss/entropy", "policy/entropy", "optim/grad_norm",
              "trsft/outside_trust_region"):
        assert two["stats"][k] == pytest.approx(one["stats"][k], rel=1e-4, abs=1e-7), k
    assert one["grads"].keys() == two["grads"].keys()
    for k, v in one["grads"].items():
        assert torch.allclose(v, two["grads"][k], rtol=1e-4, atol=1e-8), k


@pytest.mark.parametrize("strategy", ["ddp", "fsdp2"])
def test_torchrun_cli_rank0_writes_the_run(tmp_path, strategy):
    """The whole loop under torchrun: generation (with FSDP2 the parameters gathered once per call), the shared-prompt
    training pass, eval and the checkpoint (FSDP2: gathered full state dict)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"distributed: {{strategy: {strategy}}}\n"
                   "device: cpu\nmodel: {warmup: {enabled: false}, cache_dir: %s}\n"
                   "data: {train_size: 16, benchmark_size: 1}\nrollout: {max_new_tokens: 8}\n"
                   "train: {steps: 2, prompts_per_step: 2, threads: 1}\neval: {every: 2, at_start: false, "
                   "samples_per_problem: 1}\ncheckpoint: {every: 0, onnx: false}\n" % (tmp_path / "cache"))
    run_dir = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                        str(_free_port()), "-m", "trapo", "train", "--config", str(cfg), "--run-dir", str(run_dir)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    from conftest import validate_run_dir

    events = validate_run_dir(run_dir)
    assert [e["type"] for e in events].count("run_started") == 1
    assert json.loads((run_dir / "run.json").read_text())["world_size"] == 2
    alloc = [e for e in events if e["type"] == "prefix_allocation"]
    assert all(len(e["prompts"]) == 2 for e in alloc)  # both ranks' prompts gathered: the global batch
    assert (run_dir / "checkpoints" / "000002" / "model.safetensors").exists()


def test_under_slurm_a_late_twin_interrupt_on_one_rank_does_not_break_the_stop(tmp_path):
    """Under Slurm each Stop reaches every rank twice (Slurm signals every process of the step, torchrun passes it on).
    A rank blocked in a collective runs the second copy's Python handler only when the collective returns, possibly
    seconds later: that copy must not count as "stop now" on that rank alone (the other rank then waits for it, or
    fails, and nothing is saved; seen in CI). Here rank 1 gets a copy 2.5 s after the first, within the step."""
    import psutil

    cfg = tmp_path / "c.yaml"
    cfg.write_text("device: cpu\nmodel: {warmup: {enabled: false}, cache_dir: %s}\n"
                   "data: {train_size: 64, benchmark_size: 1}\nrollout: {max_new_tokens: 96}\n"
                   "train: {steps: 2000, prompts_per_step: 32, threads: 1}\neval: {every: 0, at_start: false}\n"
                   "checkpoint: {every: 0, onnx: false}\nlogging: {heartbeat_s: 1, token_stats: false}\n"
                   % (tmp_path / "cache"))
    run_dir = tmp_path / "run"
    # SLURM_JOB_ID only: the trainer's Slurm rules for signals, without a cluster.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SLURM_JOB_ID": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                             str(_free_port()), "-m", "trapo", "train", "--config", str(cfg), "--run-dir",
                             str(run_dir)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    events = run_dir / "events.jsonl"

    def step_ends() -> dict:
        text = events.read_text() if events.exists() else ""
        return {e["step"]: e["time"] for e in map(json.loads, text.splitlines()) if e["type"] == "metrics"}

    try:
        deadline = time.monotonic() + 240
        while 2 not in step_ends():  # step 2 done: both ranks are training
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()[-3000:]
            time.sleep(0.05)
        workers = sorted(psutil.Process(proc.pid).children(), key=lambda p: p.pid)
        assert len(workers) == 2
        time.sleep(0.3)  # inside step 3
        for w in workers:  # Slurm's copy of the Stop
            os.kill(w.pid, signal.SIGINT)
        os.kill(proc.pid, signal.SIGINT)  # torchrun's, to both ranks
        time.sleep(2.5)
        late = time.time()
        os.kill(workers[1].pid, signal.SIGINT)  # rank 1 runs a copy's handler late
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            for p in psutil.Process(proc.pid).children(recursive=True):
                p.kill()
            proc.kill()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "stopped", out[-3000:]
    assert info["step"] == 3 and (run_dir / "checkpoints" / "000003").is_dir(), out[-3000:]
    # The late copy came while the stop was in progress (else this test shows nothing: make the step longer).
    assert step_ends()[3] > late, f"step 3 ended {late - step_ends()[3]:.1f} s before the late copy"
