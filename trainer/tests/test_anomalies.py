"""Each health rule on a crafted events file (trapo.anomalies), the thresholds' config keys, and the trainer emitting
a schema-valid `anomaly` event."""

import dataclasses
import json
import math

import pytest
from conftest import validate_run_dir

from trapo.anomalies import KINDS, AnomalyDetector, Thresholds, scan_events
from trapo.config import AnomaliesConfig
from trapo.runformat import read_events

T = Thresholds(window=4, entropy_collapse_fraction=0.1, clip_ratio_max=0.9, benchmark_drop=0.05, reward_rise=0.05)


def write_events(path, rows):
    """rows: ("m", step, values) for a metrics event, ("e", step, average) for an eval event."""
    lines = []
    for i, (kind, step, payload) in enumerate(rows):
        base = {"v": 1, "time": 1000.0 + i, "step": step}
        if kind == "m":
            lines.append({**base, "type": "metrics", "values": payload})
        else:
            lines.append({**base, "type": "eval", "benchmarks": {}, "average": payload})
    path.mkdir(parents=True, exist_ok=True)
    (path / "events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return read_events(path)[0]


def kinds(found):
    return [(step, f.kind) for step, f in found]


def test_thresholds_mirror_the_config_keys():
    keys = {f.name: f.default for f in dataclasses.fields(AnomaliesConfig) if f.name != "enabled"}
    assert keys == dataclasses.asdict(Thresholds())


def test_non_finite_loss_fires_once_per_episode(tmp_path):
    rows = [("m", 1, {"loss/total": 1.0}), ("m", 2, {"loss/total": math.nan, "loss/policy": 0.1}),
            ("m", 3, {"loss/total": math.inf}), ("m", 4, {"loss/total": 0.9}), ("m", 5, {"optim/grad_norm": -math.inf})]
    # JSON has no NaN: the crafted file carries them as Python writes them with allow_nan (the trainer's Metrics event
    # drops them; the detector sees the values before that)
    events = write_events(tmp_path / "r", rows)
    found = scan_events(events, T)
    assert kinds(found) == [(2, "non_finite_loss"), (5, "non_finite_loss")]
    assert "loss/total = nan" in found[0][1].message and found[1][1].metric == "optim/grad_norm"


def test_entropy_collapse(tmp_path):
    ent = [1.0, 1.1, 0.9, 1.0] + [0.5] * 4 + [0.05] * 4 + [0.8] * 4 + [0.01] * 4
    events = write_events(tmp_path / "r", [("m", s + 1, {"policy/entropy": e}) for s, e in enumerate(ent)])
    found = scan_events(events, T)
    # base 1.0; the last-4 mean drops below 0.1 at step 12 (0.05 x4 = 0.05 < 0.1), clears at 16, fires again at 20
    assert kinds(found) == [(12, "entropy_collapse"), (20, "entropy_collapse")]
    assert found[0][1].value == pytest.approx(0.05) and found[0][1].threshold == pytest.approx(0.1)
    # a slow decline to 15% of the start is not a collapse
    events = write_events(tmp_path / "s", [("m", s + 1, {"policy/entropy": 1.0 - 0.85 * s / 40}) for s in range(41)])
    assert scan_events(events, T) == []


def test_answers_at_the_length_limit(tmp_path):
    clip = [0.1, 0.95, 0.95, 0.95, 0.95, 1.0, 1.0, 0.2]
    events = write_events(tmp_path / "r", [("m", s + 1, {"response/clip_ratio": c}) for s, c in enumerate(clip)])
    found = scan_events(events, T)
    # the mean of the last 4 reaches 0.9 first at step 5 (0.95 x4); it stays above until step 8 (0.8 < 0.9)
    assert kinds(found) == [(5, "length_limit")]
    assert found[0][1].value == pytest.approx(0.95)


def test_reward_up_while_the_benchmarks_fall(tmp_path):
    rows = [("e", 0, 0.30)]
    rows += [("m", s, {"reward/unguided_mean": 0.2, "reward/mean": 0.5}) for s in range(1, 5)]
    rows += [("e", 4, 0.32)]  # benchmarks up: nothing
    rows += [("m", s, {"reward/unguided_mean": 0.4, "reward/mean": 0.5}) for s in range(5, 9)]
    rows += [("e", 8, 0.25)]  # reward 0.2 -> 0.4, benchmarks 0.32 -> 0.25: fires
    rows += [("m", s, {"reward/unguided_mean": 0.6, "reward/mean": 0.5}) for s in range(9, 13)]
    rows += [("e", 12, 0.19)]  # still so: already reported
    rows += [("m", s, {"reward/unguided_mean": 0.6, "reward/mean": 0.5}) for s in range(13, 17)]
    rows += [("e", 16, 0.10)]  # benchmarks fall but the reward is flat: clears
    events = write_events(tmp_path / "r", rows)
    found = scan_events(events, T)
    assert kinds(found) == [(8, "reward_up_benchmark_down")]
    f = found[0][1]
    assert f.metric == "eval/average" and f.value == pytest.approx(0.25)
    assert "reward/unguided_mean 0.200 -> 0.400" in f.message and "0.320 -> 0.250" in f.message
    # a training reward that falls with the benchmarks (a collapse, not a divergence) is not this rule
    falling = [("e", 0, 0.3)] + [("m", s, {"reward/unguided_mean": 0.4}) for s in range(1, 5)] + [("e", 4, 0.2)]
    assert scan_events(write_events(tmp_path / "s", falling), T) == []


def test_replay_after_a_resume_does_not_fire_again(tmp_path):
    rows = [("m", s + 1, {"response/clip_ratio": 1.0}) for s in range(6)]
    events = write_events(tmp_path / "r", rows)
    events.append({"v": 1, "type": "anomaly", "time": 2000.0, "step": 4, "kind": "length_limit", "message": "m",
                   "metric": "response/clip_ratio", "value": 1.0, "threshold": 0.9})
    d = AnomalyDetector(T)
    d.replay(events)
    assert d.on_step({"response/clip_ratio": 1.0}) == []  # still at the limit: reported before the resume
    assert set(KINDS) >= d.active


def test_replay_drops_the_steps_a_resume_runs_again(tmp_path):
    rows = [("m", s + 1, {"response/clip_ratio": 1.0 if s >= 2 else 0.0}) for s in range(8)]
    events = write_events(tmp_path / "r", rows)
    events.append({"v": 1, "type": "anomaly", "time": 2000.0, "step": 6, "kind": "length_limit", "message": "m",
                   "metric": "response/clip_ratio", "value": 1.0, "threshold": 0.9})
    # killed after step 8; resumed from the checkpoint of step 2: steps 3.. run again, their alert with them
    events.append({"v": 1, "type": "run_started", "time": 3000.0, "step": 2, "resumed_from_step": 2})
    d = AnomalyDetector(T)
    d.replay(events)
    assert d.active == set() and list(d.clip_last) == [0.0, 0.0]
    assert [f.kind for f in [x for s in range(4) for x in d.on_step({"response/clip_ratio": 1.0})]] == ["length_limit"]


def test_trainer_emits_a_valid_anomaly_event(tiny_cfg, tmp_path):
    from trapo.train import Trainer

    # random weights never stop before the 10-token limit: response/clip_ratio is 1 from the first step
    cfg = tiny_cfg(**{"algorithm": "grpo", "anomalies.window": 2, "train.steps": 2, "logging.system_metrics_s": 0})
    Trainer(cfg, tmp_path / "run", log=lambda m: None).run()
    events = validate_run_dir(tmp_path / "run")
    anomalies = [e for e in events if e["type"] == "anomaly"]
    assert [(e["step"], e["kind"]) for e in anomalies] == [(2, "length_limit")]
    logs = [e["message"] for e in events if e["type"] == "log"]
    assert any(m.startswith("anomaly at step 2: answers at the length limit") for m in logs)
