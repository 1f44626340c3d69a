"""The shipped warmed-up tiny base (trapo/bases/): it matches the warm-up of the configs that use it (so a change to
the tiny model, tokenizer, task or those configs fails here until trainer/scripts/make_tiny_base.py is run again), a
run with those settings loads it without warming up, and the package ships it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import tomllib

from trapo import models
from trapo.config import load_config
from trapo.warmup import resolve_warmup

ROOT = Path(__file__).resolve().parents[1]


def _make_tiny_base():
    spec = importlib.util.spec_from_file_location("make_tiny_base", ROOT / "scripts" / "make_tiny_base.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_shipped_bases_are_exactly_those_of_the_configs_that_use_them():
    wanted = _make_tiny_base().shipped_settings()
    assert wanted, "the demo config warms the tiny model up"
    shipped = sorted(p.name for p in models.SHIPPED_BASES.glob("tiny-warmup-*"))
    assert shipped == sorted(f"tiny-warmup-{k}" for k in wanted), (
        "the shipped bases do not match the configs' warm-up (tiny model, tokenizer, task or model.warmup changed): "
        "run trainer/.venv/bin/python trainer/scripts/make_tiny_base.py")
    for key, settings in wanted.items():
        info = json.loads((models.SHIPPED_BASES / f"tiny-warmup-{key}" / "base.json").read_text())
        assert info["key"] == key and info["warmup"] == settings and info["seed"] == 0


def test_the_demo_loads_the_shipped_base_without_a_warm_up(tmp_path):
    cfg = load_config(str(ROOT / "trapo" / "configs" / "demo.trapo.yaml"))
    warm = dict(vars(cfg.model.warmup))
    calls = []
    d = models.build_warm_tiny(warm, seed=0, cache_dir=tmp_path, progress=lambda f, m: calls.append(f))
    assert d.parent == models.SHIPPED_BASES and calls == [] and not any(tmp_path.iterdir())
    model, tokenizer, name = models.load_policy("tiny", device="cpu", warmup=warm, cache_dir=str(tmp_path))
    assert sum(p.numel() for p in model.parameters()) == 832_384
    assert name == f"tiny-qwen2-warm-{models.warmup_cache_key(resolve_warmup(warm), 0)[:8]}"
    assert tokenizer.eos_token_id is not None and tokenizer.padding_side == "left"


def test_the_package_ships_the_bases():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["trapo"]
    assert "bases/*/*" in data
    for f in models.SHIPPED_BASES.rglob("*"):
        assert f.is_dir() or len(f.relative_to(models.SHIPPED_BASES).parts) == 2, f"{f} is not matched by bases/*/*"


def test_the_configs_on_a_shipped_base_do_not_promise_a_warm_up_wait():
    # Their base ships: no "takes a few minutes once, then it is cached" in the text a user reads first.
    import re

    for name in _make_tiny_base().SHIPPED_CONFIGS:
        text = (ROOT / "trapo" / "configs" / name).read_text(encoding="utf-8")
        stale = re.search(r"warm-up takes|cached after the first|warmed up once and cached|after the cached warm-up",
                          text)
        assert stale is None, f"{name}: {stale.group(0) if stale else ''}"
