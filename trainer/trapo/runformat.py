"""The run directory format `trapo-run/1.1`: the only interface between the trainer and the extension.

1.1 adds to 1 (readers of 1.1 read both): rollout lines with per-token statistics as parallel arrays (`token_stats`,
see trapo.compact_tokens) in place of an object per token; per-rollout summaries (`completion_tokens`, `prefix_tokens`,
`mean_entropy`, `outside_trust_region`), written when there is no `token_stats` to derive them from; the prompt text
once per prompt id in a rollouts file (on its first line: the samples of a group share it); the `anomaly` event.

Layout (see `trapo/schemas/README.md` and the JSON Schemas beside it):

    <run dir>/run.json                          rewritten atomically (temp file, fsync, rename)
    <run dir>/events.jsonl                      append-only, one JSON object a line, flushed per line
    <run dir>/rollouts/<step:06d>.jsonl         one rollout a line
    <run dir>/evals/<step:06d>/<benchmark>.jsonl  one evaluated problem a line
    <run dir>/checkpoints/<step:06d>/           Hugging Face layout + trainer state
    <run dir>/checkpoint_evals/                 evaluations asked for later (`trapo eval --run-dir`,
                                                checkpoint_evals.py)
    <run dir>/logs/trainer.log                  captured by whoever launched the process
    <run dir>/launch.json                       jobs submitted to Slurm for the run (written by the submitter)

One dataclass per event type. `RunWriter` is the only code that writes these files (launch.json aside: the
extension writes it when it submits a job; `read_launch_json` reads it); it imports nothing heavy. Under Slurm,
run.json records the job the trainer runs in (`slurm`), so that a job submitted from a terminal is known too.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from . import RUN_FORMAT, RUN_FORMATS_READ, __version__

EVENT_VERSION = 1
RunStatus = Literal["running", "finished", "failed", "stopped"]
Phase = Literal["rollout", "train", "eval", "checkpoint"]
PreparePhase = Literal["load_model", "warmup", "load_data"]


# --------------------------------------------------------------------------- events


@dataclass
class ModelInfo:
    name: str
    parameters: int


@dataclass
class RunStarted:
    TYPE: ClassVar[str] = "run_started"
    config: dict
    total_steps: int
    model: ModelInfo
    device: str
    world_size: int
    resumed_from_step: int | None = None
    prompt_example: str | None = None  # the first training row's prompt as the model sees it


@dataclass
class Metrics:
    TYPE: ClassVar[str] = "metrics"
    values: dict  # flat "namespace/name" -> number


@dataclass
class StageRecord:
    n: int
    ratio: float
    guided: bool
    correct: int
    correct_before: int


@dataclass
class PromptAllocation:
    prompt_id: str
    level: int
    stages: list  # list[StageRecord]


@dataclass
class PrefixAllocation:
    TYPE: ClassVar[str] = "prefix_allocation"
    prompts: list  # list[PromptAllocation]


@dataclass
class Rollouts:
    TYPE: ClassVar[str] = "rollouts"
    file: str
    count: int


@dataclass
class BenchmarkResult:
    accuracy: float
    n: int
    samples_per_problem: int
    file: str
    metric: str | None = None  # what `accuracy` is: "avg@k" (k samples a problem) or "pass@1"
    source: str | None = None  # the benchmark's file as configured, or builtin:<name>
    digest: str | None = None  # checkpoint_evals.benchmark_digest of its problems: pairs them across runs


@dataclass
class Eval:
    TYPE: ClassVar[str] = "eval"
    benchmarks: dict  # name -> BenchmarkResult
    average: float


@dataclass
class Checkpoint:
    TYPE: ClassVar[str] = "checkpoint"
    path: str
    onnx: str | None
    bytes: int


@dataclass
class Heartbeat:
    TYPE: ClassVar[str] = "heartbeat"
    phase: Phase


@dataclass
class PhaseProgress:
    """Preparation before the first step (loading the model, warming the tiny model up, loading data), with its
    progress; `run_started` ends it. `fraction` is None where the trainer cannot tell how far it is."""

    TYPE: ClassVar[str] = "phase"
    phase: PreparePhase
    fraction: float | None
    message: str


@dataclass
class Log:
    TYPE: ClassVar[str] = "log"
    level: Literal["debug", "info", "warning", "error"]
    message: str


AnomalyKind = Literal["non_finite_loss", "entropy_collapse", "length_limit", "reward_up_benchmark_down"]


@dataclass
class Anomaly:
    """A health rule started to hold (trapo.anomalies): once per episode, not every step."""

    TYPE: ClassVar[str] = "anomaly"
    kind: AnomalyKind
    message: str
    metric: str
    value: float | None
    threshold: float


@dataclass
class ErrorInfo:
    type: str
    message: str
    traceback: str


@dataclass
class RunFinished:
    TYPE: ClassVar[str] = "run_finished"
    status: Literal["finished", "failed", "stopped"]
    error: ErrorInfo | None = None


Event = (RunStarted | Metrics | PrefixAllocation | Rollouts | Eval | Checkpoint | Heartbeat | PhaseProgress | Log
         | Anomaly | RunFinished)
EVENT_TYPES: tuple = (RunStarted, Metrics, PrefixAllocation, Rollouts, Eval, Checkpoint, Heartbeat, PhaseProgress, Log,
                      Anomaly,
                      RunFinished)


# --------------------------------------------------------------------------- lines


@dataclass
class TokenInfo:
    text: str
    logprob: float
    entropy: float
    prefix: bool


@dataclass
class RolloutRecord:
    step: int
    prompt_id: str
    sample: int
    stage: int
    level: int
    prompt: str
    prefix: str
    completion: str
    reward: float
    advantage: float
    answer: str
    extracted: str | None
    sft_owner: bool
    prefix_ratio: float = 0.0
    # trapo-run/1.1 summaries (not written when token_stats is, which holds them), before the per-token data
    completion_tokens: int | None = None  # tokens the model generated (EOS included when produced)
    prefix_tokens: int | None = None  # expert tokens given
    mean_entropy: float | None = None  # mean policy entropy over the response tokens (nats)
    outside_trust_region: float | None = None  # share of prefix tokens with p < loss.alpha; absent without prefix
    tokens: list | None = None  # list[TokenInfo]: trapo-run/1's form, still accepted; the trainer writes token_stats
    token_stats: dict | None = None  # parallel arrays (trapo.compact_tokens.encode)


@dataclass
class EvalSample:
    completion: str
    extracted: str | None
    correct: bool


@dataclass
class EvalRecord:
    problem_id: str
    prompt: str
    answer: str
    samples: list  # list[EvalSample]
    accuracy: float


# --------------------------------------------------------------------------- helpers

# JSON has no literal for NaN and the infinities; the format writes them as these strings (the spelling of protobuf's
# JSON mapping), wherever a number may be non-finite: a NaN loss is data, not a gap (schemas/events.schema.json).
NON_FINITE_TOKENS = ("NaN", "Infinity", "-Infinity")


def encode_float(x: float) -> float | str:
    """A float as the format writes it: itself when finite, else "NaN", "Infinity" or "-Infinity"."""
    if math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def decode_number(x: Any) -> float | None:
    """The number a value of the format stands for (the non-finite tokens included), or None when it is none."""
    if isinstance(x, bool):
        return None
    if isinstance(x, (int, float)):
        return float(x)
    if x in NON_FINITE_TOKENS:
        return float(x.replace("Infinity", "inf"))
    return None


_OMIT_WHEN_NONE = {"tokens", "metric", "prompt_example", "source", "digest"}  # optional fields a reader may not find


def _plain(obj: Any) -> Any:
    """Dataclasses to dicts, dropping None-valued optional fields (`tokens`, `metric`, `prompt_example`, `source`,
    `digest`: absent rather than null); non-finite floats become their tokens."""
    if dataclasses.is_dataclass(obj):
        out = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.name in _OMIT_WHEN_NONE and value is None:
                continue
            out[f.name] = _plain(value)
        return out
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return encode_float(obj)  # JSON has no NaN/Infinity: their tokens keep every line parseable
    item = getattr(obj, "item", None)
    if callable(item):  # numpy / torch scalars
        return _plain(item())
    return obj


def event_to_dict(event: Event, step: int | None, now: float | None = None) -> dict:
    body = _plain(event)
    if isinstance(event, Metrics):
        # A value is a number or a non-finite token; anything else (None, a string) is not a metric and is left out.
        body["values"] = {k: v for k, v in body["values"].items()
                          if (isinstance(v, (int, float)) and not isinstance(v, bool)) or v in NON_FINITE_TOKENS}
    return {"v": EVENT_VERSION, "type": event.TYPE, "time": time.time() if now is None else now, "step": step, **body}


def dumps_line(obj: Any) -> str:
    return json.dumps(_plain(obj), ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"


def make_run_id(name: str, now: float | None = None) -> str:
    """Sortable and unique: 20261125-142501-<name>-3f9a."""
    t = time.gmtime(time.time() if now is None else now)
    safe = "".join(c if (c.isalnum() or c in "_.-") else "-" for c in name).strip("-") or "run"
    return f"{time.strftime('%Y%m%d-%H%M%S', t)}-{safe[:40]}-{secrets.token_hex(2)}"


def atomic_write_text(path: Path, text: str) -> None:
    """Write temp file in the same folder, fsync it, rename over the target, fsync the folder."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- writer


class RunWriter:
    """Writes one run directory. Only rank 0 should own one.

    `RunWriter.create(...)` starts a new run; `RunWriter.open_existing(dir)` resumes one (events are appended to the
    same `events.jsonl`).
    """

    def __init__(self, run_dir: Path, run_info: dict, clock: Callable[[], float] = time.time):
        self.run_dir = Path(run_dir)
        self.info = run_info
        self.clock = clock
        for sub in ("rollouts", "evals", "checkpoints", "logs"):
            (self.run_dir / sub).mkdir(parents=True, exist_ok=True)
        self._events = open(self.run_dir / "events.jsonl", "a", encoding="utf-8")

    # -- lifecycle

    @classmethod
    def create(
        cls,
        run_dir: Path,
        *,
        name: str,
        algorithm: str,
        config: dict,
        world_size: int = 1,
        device: str = "cpu",
        total_steps: int | None = None,
        run_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> RunWriter:
        run_dir = Path(run_dir)
        if (run_dir / "run.json").exists():
            raise FileExistsError(f"{run_dir} already holds a run (run.json exists); use --resume to continue it")
        run_dir.mkdir(parents=True, exist_ok=True)
        now = clock()
        if run_id is None:
            run_id = run_dir.name if _looks_like_run_id(run_dir.name) else make_run_id(name, now)
        info = {
            "format": RUN_FORMAT,
            "id": run_id,
            "name": name,
            "algorithm": algorithm,
            "created_at": now,
            "updated_at": now,
            "config": config,
            "status": "running",
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "trainer_version": __version__,
            "world_size": world_size,
            "device": device,
            "total_steps": total_steps,
            "step": None,
        }
        slurm = slurm_job_from_env()
        if slurm is not None:  # only under Slurm: run.json outside it is as before
            info["slurm"] = slurm
        writer = cls(run_dir, info, clock)
        writer._write_run_json()
        return writer

    @classmethod
    def open_existing(cls, run_dir: Path, clock: Callable[[], float] = time.time, **updates: Any) -> RunWriter:
        """Reopens a run to resume it: status back to running, events appended to the same file."""
        run_dir = Path(run_dir)
        info = read_run_json(run_dir)
        info.update(updates)
        # A trapo-run/1 run resumed by this trainer goes on in 1.1 (whose readers read its earlier 1 lines too).
        info.update({"status": "running", "pid": os.getpid(), "host": socket.gethostname(), "updated_at": clock(),
                     "format": RUN_FORMAT})

        slurm = slurm_job_from_env()
        if slurm is not None:
            info["slurm"] = slurm
        else:  # resumed outside Slurm: the job of an earlier run of it is not this process's
            info.pop("slurm", None)
        writer = cls(run_dir, info, clock)
        writer._repair_torn_tail()
        writer._write_run_json()
        return writer

    def _repair_torn_tail(self) -> None:
        """A process killed mid-write can leave a last line without newline; end it so the next event starts clean."""
        path = self.run_dir / "events.jsonl"
        size = path.stat().st_size
        if size == 0:
            return
        with open(path, "rb") as fh:
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                self._events.write("\n")
                self._events.flush()

    def update(self, **fields: Any) -> None:
        self.info.update(fields)
        self.info["updated_at"] = self.clock()
        self._write_run_json()

    def set_status(self, status: RunStatus) -> None:
        self.update(status=status)

    def _write_run_json(self) -> None:
        atomic_write_text(self.run_dir / "run.json", json.dumps(_plain(self.info), indent=2, allow_nan=False) + "\n")

    def close(self) -> None:
        if not self._events.closed:
            self._events.close()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- events

    def emit(self, event: Event, step: int | None = None) -> dict:
        """Appends one event line and flushes it. Returns the line as written."""
        line = event_to_dict(event, step, self.clock())
        self._events.write(json.dumps(line, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n")
        self._events.flush()
        return line

    # -- line files

    def write_rollouts(self, step: int, records: Iterable[RolloutRecord]) -> Rollouts:
        """Writes rollouts/<step:06d>.jsonl (atomically) and emits its `rollouts` event."""
        rel = f"rollouts/{step:06d}.jsonl"
        legacy = self.info.get("format") == "trapo-run/1"  # only the fixtures write a 1 run now
        count = _write_lines(self.run_dir / rel, rollout_lines(records, legacy))
        event = Rollouts(file=rel, count=count)
        self.emit(event, step=step)
        return event

    def write_eval_file(self, step: int, benchmark: str, records: Iterable[EvalRecord]) -> tuple[str, int]:
        """Writes evals/<step:06d>/<benchmark>.jsonl; returns its relative path and line count (for the eval event)."""
        rel = f"evals/{step:06d}/{benchmark}.jsonl"
        (self.run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        return rel, _write_lines(self.run_dir / rel, records)


SUMMARY_FIELDS = ("completion_tokens", "prefix_tokens", "mean_entropy", "outside_trust_region")


def rollout_lines(records: Iterable[RolloutRecord], legacy: bool = False) -> Iterable[dict]:
    """The trapo-run/1.1 lines of one rollouts file: the prompt on the first line of each prompt id only, and the
    summaries only where no token_stats holds them; 1.1's fields left out where unset (absent, not null). `legacy`:
    trapo-run/1 lines (every prompt, no 1.1 field)."""
    seen: set = set()
    for rec in records:
        line = _plain(rec)
        for key in (*SUMMARY_FIELDS, "token_stats"):
            if line.get(key, 0) is None or (legacy and key in line):
                del line[key]
        if legacy:
            yield line
            continue
        if rec.prompt_id in seen:
            del line["prompt"]
        seen.add(rec.prompt_id)
        if rec.token_stats is not None:
            for key in SUMMARY_FIELDS:
                line.pop(key, None)
        yield line


def read_rollouts(path: Path) -> list[dict]:
    """A rollouts file's lines as dicts, each with its prompt (filled from the prompt id's first line)."""
    prompts, out = {}, []
    for text in Path(path).read_text(encoding="utf-8").splitlines():
        if not text.strip():
            continue
        line = json.loads(text)
        if "prompt" in line:
            prompts.setdefault(line["prompt_id"], line["prompt"])
        else:
            line["prompt"] = prompts.get(line["prompt_id"], "")
        out.append(line)
    return out


def _write_lines(path: Path, records: Iterable[Any]) -> int:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    n = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(dumps_line(rec))
            n += 1
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return n


def _looks_like_run_id(name: str) -> bool:
    parts = name.split("-")
    return len(parts) >= 3 and len(parts[0]) == 8 and parts[0].isdigit() and len(parts[1]) == 6 and parts[1].isdigit()


def read_run_json(run_dir: Path) -> dict:
    path = Path(run_dir) / "run.json"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{run_dir} is not a run directory: run.json is missing") from None
    if info.get("format") not in RUN_FORMATS_READ:
        raise ValueError(f"{path}: format is {info.get('format')!r}, expected one of {', '.join(RUN_FORMATS_READ)}")
    return info


def slurm_job_from_env(env: Mapping[str, str] | None = None) -> dict | None:
    """The Slurm job this process runs in (run.json `slurm`), from the variables Slurm sets; None outside Slurm."""
    env = os.environ if env is None else env
    job = env.get("SLURM_JOB_ID") or env.get("SLURM_JOBID")
    if not job:
        return None
    array = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    restarts = env.get("SLURM_RESTART_COUNT", "0")
    return {
        "job_id": f"{array[0]}_{array[1]}" if all(array) else job,
        "restart_count": int(restarts) if restarts.isdigit() else 0,
        "node_list": env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST") or "",
        "cluster": env.get("SLURM_CLUSTER_NAME") or None,
    }


LAUNCH_FORMAT = "trapo-launch/1"


def read_launch_json(run_dir: Path) -> dict | None:
    """launch.json of a run submitted to Slurm (schemas/launch.schema.json), or None when the run has none.

    Raises ValueError naming the field at fault when the file is not a launch file."""
    path = Path(run_dir) / "launch.json"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(info, dict) or info.get("format") != LAUNCH_FORMAT:
        raise ValueError(f"{path}: format is {info.get('format') if isinstance(info, dict) else None!r}, "
                         f"expected {LAUNCH_FORMAT!r}")
    for key, kind in (("launcher", str), ("run_id", str), ("name", str), ("created_at", (int, float)), ("jobs", list)):
        if not isinstance(info.get(key), kind):
            raise ValueError(f"{path}: missing or invalid {key!r}")
    for job in info["jobs"]:
        if not (isinstance(job, dict) and isinstance(job.get("job_id"), str) and isinstance(job.get("script"), str)):
            raise ValueError(f"{path}: a job without job_id or script: {job!r}")
    return info


def read_events(run_dir: Path) -> tuple[list, int]:
    """All parseable event lines and the count of skipped (malformed or torn) lines."""
    events, skipped = [], 0
    with open(Path(run_dir) / "events.jsonl", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                skipped += 1
                continue
            if isinstance(obj, dict) and "type" in obj:
                events.append(obj)
            else:
                skipped += 1
    return events, skipped


def schema_path(name: str) -> Path:
    return Path(__file__).parent / "schemas" / name
