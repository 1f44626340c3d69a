"""Config loading, overrides and the bad-config table (exit 2, one line naming the key, before torch)."""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from trapo.config import PAPER_STAGES, Config, ConfigError, build_schema, load_config, schema_file

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "trapo" / "configs").glob("*.yaml"))


def test_defaults_follow_the_reference_code():
    c = Config()
    assert [(s.n, s.ratio, s.threshold) for s in c.micro_group.stages] == [(4, 0.0, None), (2, 0.25, 2), (1, 0.5, 4),
                                                                         (1, 1.0, 7)]
    assert c.micro_group.threshold_kind == "count"
    assert c.loss.alpha == 0.1 and c.loss.group_std is False and c.loss.normalization == "constant"
    assert c.loss.entropy_coef == 0.001 and c.loss.kl_coef == 0.0 and c.loss.ppo_clip is False
    assert (c.optim.beta1, c.optim.beta2, c.optim.weight_decay, c.optim.grad_clip) == (0.9, 0.999, 0.01, 1.0)
    assert c.algorithm == "trapo"


def test_paper_values_reachable_by_config(tmp_path):
    f = tmp_path / "paper.yaml"
    f.write_text(yaml.safe_dump({"micro_group": {"threshold_kind": "mean", "stages": [
        {"n": s.n, "ratio": s.ratio, "threshold": s.threshold} for s in PAPER_STAGES]}}))
    c = load_config(f)
    assert [(s.ratio, s.threshold) for s in c.micro_group.stages] == [(0.0, None), (0.2, 0.5), (0.5, 0.7), (1.0, 0.9)]


def test_set_overrides_by_dotted_path(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"optim": {"lr": 0.5}}))
    c = load_config(f, ["optim.lr=1e-4", "loss.normalization=token", "train.steps=7", "data.benchmarks=[a.jsonl]"],
                    check_files=False)
    assert c.optim.lr == 1e-4 and c.loss.normalization == "token" and c.train.steps == 7
    assert c.data.benchmarks == ["a.jsonl"]


def test_shipped_schema_matches_dataclasses_and_is_strict():
    shipped = json.loads(schema_file().read_text())
    assert shipped == build_schema(), "run `python -m trapo.config` to regenerate trapo/schemas/config.schema.json"
    jsonschema.Draft7Validator.check_schema(shipped)

    def walk(node, path):
        if node.get("type") == "object" or "properties" in node:
            assert node.get("additionalProperties") is False, path
            for k, v in node["properties"].items():
                assert v.get("description"), f"{path}.{k} has no description"
                walk(v, f"{path}.{k}")
        if "items" in node:
            walk(node["items"], path + "[]")

    walk(shipped, "")


def test_warmup_defaults_mirror_the_warmup_module():
    from trapo.warmup import WARMUP_DEFAULTS

    d = vars(Config().model.warmup)
    assert {k: d[k] for k in WARMUP_DEFAULTS} == WARMUP_DEFAULTS


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_validate(path):
    load_config(path, check_files=False)
    jsonschema.validate(yaml.safe_load(path.read_text()) or {}, build_schema())


# (file contents, --set overrides, key named in the error, jsonschema also rejects it)
BAD = [
    ({"optim": {"lrr": 1e-4}}, [], "optim.lrr", True),  # unknown key (typo)
    ({"bogus": 1}, [], "bogus", True),  # unknown top-level key
    ({"optim": {"lr": "fast"}}, [], "optim.lr", True),  # wrong type
    ({"train": {"steps": 2.5}}, [], "train.steps", True),  # float for an int
    ({"train": {"steps": 0}}, [], "train.steps", True),  # out of range (minimum 1)
    ({"loss": {"alpha": 0}}, [], "loss.alpha", True),  # exclusive minimum 0
    ({"loss": {"normalization": "batch"}}, [], "loss.normalization", True),  # not in the enum
    ({"algorithm": "ppo"}, [], "algorithm", True),
    ({"micro_group": {"stages": [{"n": 0, "ratio": 0}]}}, [], "micro_group.stages[0].n", True),
    ({"micro_group": {"stages": [{"n": 4, "ratio": 1.5}]}}, [], "micro_group.stages[0].ratio", True),
    ({"micro_group": {"stages": [{"n": 4, "ratio": 0.25, "threshold": 2}]}}, [], "micro_group.stages[0]", False),
    ({"model": {"name_or_path": "/no/such/model"}}, [], "model.name_or_path", False),  # missing dir
    ({"data": {"train": "/no/such.parquet"}}, [], "data.train", False),  # missing file
    ({"data": {"benchmarks": ["/no/such.jsonl"]}}, [], "data.benchmarks[0]", False),
    ({"algorithm": "sft_then_rl", "train": {"steps": 10, "sft_steps": 10}}, [], "train.sft_steps", False),
    ({}, ["optim.lr=-1"], "optim.lr", True),  # bad --set value
    ({}, ["optim.nope=1"], "optim.nope", True),  # unknown --set key
    ({"train": 5}, [], "train", True),  # a section that is not a mapping
]


@pytest.mark.parametrize("data,sets,key,schema_rejects", BAD, ids=[c[2] for c in BAD])
def test_bad_config_exits_2_naming_the_key(tmp_path, data, sets, key, schema_rejects):
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_config(f, sets)
    assert err.value.key == key
    line = err.value.line()
    assert "\n" not in line and key in line and "fix:" in line
    if schema_rejects and not sets:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(data, build_schema())


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "trapo", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_cli_bad_config_one_line_exit_2_without_torch(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("optim:\n  lr: -3\n")
    r = _cli("validate-config", str(f))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "optim.lr" in r.stderr and "fix:" in r.stderr
    r = _cli("train", "--config", str(f), "--run-dir", str(tmp_path / "run"))
    assert r.returncode == 2 and "optim.lr" in r.stderr
    assert not (tmp_path / "run").exists()  # nothing allocated or written
    r = _cli("validate-config", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2 and "not found" in r.stderr
    # torch is not imported on the config path
    code = ("import sys; from trapo.config import load_config\n"
            f"load_config({str(f)!r}, ['optim.lr=1e-4'], check_files=False)\n"
            "assert 'torch' not in sys.modules, 'torch imported'; print('light')")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "light", r.stderr


def test_cli_validate_ok_and_help():
    r = _cli("validate-config", str(CONFIGS[0]))
    assert r.returncode == 0 and r.stdout.strip() == "ok"
    r = _cli("--help")
    assert r.returncode == 0 and "train" in r.stdout and "export-onnx" in r.stdout
