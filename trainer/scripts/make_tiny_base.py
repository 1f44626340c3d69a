"""Makes the warmed-up tiny base models that ship with the trainer (trainer/trapo/bases/tiny-warmup-<key>/).

The demo's and the comparison's configs warm the embedded tiny model up with the same settings; a run with them
loads the shipped base instead of spending minutes on the warm-up (any other warm-up setting is still built once
and cached, see trapo/models.py). Run this after changing what the cache key covers (the tiny model, its tokenizer,
the task, or those configs' model.warmup): trainer/tests/test_tiny_base.py fails until the shipped base matches.

    trainer/.venv/bin/python trainer/scripts/make_tiny_base.py            # (re)build the shipped base(s)
    trainer/.venv/bin/python trainer/scripts/make_tiny_base.py --check    # build again in a temp dir, compare

`--check` measures whether the warm-up is reproducible on this machine: it prints the largest parameter difference
between a fresh build and the shipped files (0 = bitwise equal).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import transformers  # noqa: E402

from trapo import models  # noqa: E402
from trapo.config import load_config  # noqa: E402
from trapo.warmup import resolve_warmup  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "trapo" / "configs"
SHIPPED_CONFIGS = ("demo.trapo.yaml", "comparison.trapo.yaml")
SEED = 0  # the trainer's base model is the same for every training seed (trapo/train.py: seed=0)


def shipped_settings() -> dict[str, dict]:
    """Cache key -> warm-up settings, for the configs whose base ships."""
    out: dict[str, dict] = {}
    for name in SHIPPED_CONFIGS:
        cfg = load_config(str(CONFIGS / name))
        if cfg.model.name_or_path != "tiny" or not cfg.model.warmup.enabled:
            continue
        settings = resolve_warmup(dict(vars(cfg.model.warmup)))
        out.setdefault(models.warmup_cache_key(settings, SEED), settings)
    return out


def build(settings: dict, cache: Path) -> tuple[Path, dict]:
    notes: list[str] = []

    def log(msg: str) -> None:
        print(msg, flush=True)
        notes.append(msg)

    t0 = time.perf_counter()
    d = models.build_warm_tiny(settings, seed=SEED, cache_dir=cache, log=log, progress=None)
    checks = [m for m in notes if "unguided accuracy" in m]
    info = {
        "key": models.warmup_cache_key(settings, SEED),
        "warmup": settings,
        "seed": SEED,
        "last_check": checks[-1] if checks else None,
        "seconds": round(time.perf_counter() - t0, 1),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }
    return d, info


def max_difference(a: Path, b: Path) -> float:
    from safetensors.torch import load_file

    ta, tb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert ta.keys() == tb.keys(), "different tensors"
    return max(float((ta[k].double() - tb[k].double()).abs().max()) for k in ta)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="rebuild in a temporary folder and compare with the shipped")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    # Build outside the package, so that build_warm_tiny does not just return the shipped folder.
    for key, settings in shipped_settings().items():
        target = models.SHIPPED_BASES / f"tiny-warmup-{key}"
        with tempfile.TemporaryDirectory(prefix="trapo-base-") as tmp:
            original = models.SHIPPED_BASES
            models.SHIPPED_BASES = Path(tmp) / "none"
            try:
                built, info = build(settings, Path(tmp))
            finally:
                models.SHIPPED_BASES = original
            if args.check:
                if not target.exists():
                    sys.exit(f"no shipped base at {target}: run without --check first")
                shipped = json.loads((target / "base.json").read_text())
                print(f"{key}: rebuilt in {info['seconds']} s ({info['threads']} threads, torch {info['torch']}); "
                      f"shipped: {shipped['threads']} threads, torch {shipped['torch']}; "
                      f"max |parameter difference| {max_difference(built, target):.3g}")
                continue
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(built, target)
            for f in target.iterdir():
                f.chmod(0o644)  # safetensors writes 0600; the package's files are readable by all
            (target / "base.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
            size = sum(f.stat().st_size for f in target.iterdir())
            print(f"wrote {target} ({size / 1e6:.1f} MB) in {info['seconds']} s")
    stale = {p.name for p in models.SHIPPED_BASES.glob("tiny-warmup-*")} - {
        f"tiny-warmup-{k}" for k in shipped_settings()}
    for name in sorted(stale):
        print(f"stale shipped base (no config uses its settings): {models.SHIPPED_BASES / name}; remove it")


if __name__ == "__main__":
    main()
