"""Bytes per rollout with per-token statistics: trapo-run/1 (an object per token, the prompt on every line) against
trapo-run/1.1 (parallel arrays, the prompt once per group, summaries left to the arrays), on the same rollouts.

    trainer/.venv/bin/python trainer/bench/rollout_bytes.py [--steps 6] [--config trapo/configs/comparison.trapo.yaml]
        [--set key=value ...] [--run-dir DIR (keep the run)]

Trains `--steps` real steps with logging.token_stats on (the comparison's config by default: its warmed-up tiny
model, 8 prompts x 8 samples) and captures each rollout's per-token figures at full precision as the trainer hands
them to the writer; the trapo-run/1 line of each rollout is written from those, as the trainer before 1.1 wrote it.
Prints both sizes side by side and the ratio. The tiny model's warm-up (minutes, once) is cached in model.cache_dir.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trapo import compact_tokens  # noqa: E402
from trapo.config import load_config  # noqa: E402
from trapo.runformat import RunWriter, TokenInfo, dumps_line, rollout_lines  # noqa: E402
from trapo.train import Trainer  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--config", default=str(REPO / "trainer" / "trapo" / "configs" / "comparison.trapo.yaml"))
    ap.add_argument("--set", action="append", default=[], dest="sets")
    ap.add_argument("--run-dir", type=Path)
    args = ap.parse_args()
    cfg = load_config(args.config, [f"train.steps={args.steps}", "eval.every=0", "eval.at_start=false",
                                    "checkpoint.every=0", "checkpoint.at_end=false", "logging.token_stats=true",
                                    *args.sets])
    # The per-token figures as the trainer passes them to the encoder (full precision, the texts decoded one by one).
    captured: list = []
    encode = compact_tokens.encode

    def capture(texts, logprobs, entropies, n_prefix, prefix_text, completion_text):
        captured.append([TokenInfo(text=t, logprob=float(a), entropy=float(b), prefix=k < n_prefix)
                         for k, (t, a, b) in enumerate(zip(texts, logprobs, entropies))])
        return encode(texts, logprobs, entropies, n_prefix, prefix_text, completion_text)

    compact_tokens.encode = capture
    legacy: list = []
    write = RunWriter.write_rollouts

    def write_both(self, step, records):
        records = list(records)
        mine, captured[:] = captured[:], []
        assert len(mine) == len(records), "every rollout should carry token stats"
        old = [dataclasses.replace(r, token_stats=None, tokens=t) for r, t in zip(records, mine)]
        legacy.extend(dumps_line(x) for x in rollout_lines(old, legacy=True))
        return write(self, step, records)

    RunWriter.write_rollouts = write_both
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run_dir or Path(tmp) / "run"
        Trainer(cfg, run_dir, log=lambda m: None).run()
        files = sorted((run_dir / "rollouts").glob("*.jsonl"))
        new = [line for f in files for line in f.read_bytes().splitlines(keepends=True)]
    old_bytes = sum(len(x.encode("utf-8")) for x in legacy)
    new_bytes = sum(len(x) for x in new)
    n = len(new)
    tokens = sum(json.loads(x)["token_stats"]["n"] for x in new)
    print(f"{n} rollouts of {args.steps} steps, {tokens / n:.1f} response tokens per rollout "
          f"({cfg.algorithm}, {Path(args.config).name})")
    print(f"trapo-run/1   {old_bytes / n:8.0f} bytes per rollout   ({old_bytes / 1e6:.2f} MB)")
    print(f"trapo-run/1.1 {new_bytes / n:8.0f} bytes per rollout   ({new_bytes / 1e6:.2f} MB)")
    print(f"ratio         {old_bytes / new_bytes:8.2f}x smaller (goal: >= 5x, at most a fifth)")


if __name__ == "__main__":
    main()
