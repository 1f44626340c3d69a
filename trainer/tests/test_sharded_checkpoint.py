"""Sharded checkpoints under torchrun (2 CPU processes, gloo, FSDP2): each rank writes its shard of the model and of
AdamW's state; a resume at 2 processes continues exactly as an uninterrupted run, and a resume at 1 process reads the
same state back (re-cut from the 2 shards)."""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import torch
from conftest import validate_run_dir

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(args: list, timeout: int = 600) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                        str(_free_port()), "-m", "trapo", "train", *args], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


def _metrics(run_dir: Path) -> dict:
    out = {}
    for e in validate_run_dir(run_dir):
        if e["type"] == "metrics":
            # timing and host load: not deterministic
            out[e["step"]] = {k: v for k, v in e["values"].items() if not k.startswith(("perf/", "system/"))}
    return out


def test_sharded_save_resume_at_two_processes_and_at_one(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("distributed: {strategy: fsdp2}\ndevice: cpu\n"
                   "model: {warmup: {enabled: false}, cache_dir: %s}\n"
                   "data: {train_size: 16, benchmark_size: 1}\nrollout: {max_new_tokens: 8}\n"
                   "train: {steps: 3, prompts_per_step: 2, threads: 1}\neval: {every: 0, at_start: false}\n"
                   "checkpoint: {every: 2, onnx: false}\noptim: {lr: 0.001}\n" % (tmp_path / "cache"))
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    _torchrun(["--config", str(cfg), "--run-dir", str(straight)])
    _torchrun(["--config", str(cfg), "--run-dir", str(resumed), "--max-steps", "2"])
    ck = resumed / "checkpoints" / "000002"
    state = torch.load(ck / "trainer_state.pt", weights_only=False)
    assert state["optimizer"] is None  # nothing gathered on rank 0 but the model's weights for from_pretrained
    shards = sorted(p.name for p in (ck / "sharded").iterdir())
    assert shards == [".metadata", "__0_0.distcp", "__1_0.distcp"], shards
    assert (ck / "model.safetensors").exists() and not list(ck.parent.glob(".*tmp*"))
    one = tmp_path / "one"
    shutil.copytree(resumed, one)

    # resume at 2: step 3 as in the uninterrupted run
    _torchrun(["--run-dir", str(resumed), "--resume", "--max-steps", "3"])
    a, b = _metrics(straight), _metrics(resumed)
    assert sorted(a) == sorted(b) == [1, 2, 3]
    assert a[3] == b[3]

    # resume at 1: the 2 shards re-cut into one process's full tensors, equal to what DCP itself reads back
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    dcp_to_torch_save(str(one / "checkpoints" / "000002" / "sharded"), str(tmp_path / "flat.pt"))
    flat = torch.load(tmp_path / "flat.pt", weights_only=False)
    from trapo.config import config_from_dict
    from trapo.train import Trainer

    run_cfg = config_from_dict(json.loads((one / "run.json").read_text())["config"])
    run_cfg.train.steps = 3
    trainer = Trainer(run_cfg, one, resume=True, log=lambda m: None)
    assert trainer.start_step == 2 and trainer.dist.world_size == 1
    params = dict(trainer.model.named_parameters())
    for name, p in params.items():
        torch.testing.assert_close(p.detach(), flat["model"][name], rtol=0, atol=0, msg=name)
    opt = trainer.optimizer.state_dict()
    names = [n for n, _ in trainer.model.named_parameters()]
    assert len(opt["state"]) == len(names)
    for i, name in enumerate(names):
        for k in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(opt["state"][i][k], flat["optimizer"]["state"][name][k], rtol=0, atol=0)
        assert float(opt["state"][i]["step"]) == 2.0
    assert trainer.run() == "finished"
    assert sorted(_metrics(one)) == [1, 2, 3]
