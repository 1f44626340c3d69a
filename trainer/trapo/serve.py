"""`python -m trapo serve`: the live prompt's generation service, JSON lines on stdin and stdout.

The Compare Checkpoints panel of the VS Code extension starts one service per panel, where the extension host runs
(over Remote-SSH: on the remote machine, beside the run and its GPU), loads checkpoint A and B into it once, streams
each answer back token by token, and shuts it down when the panel closes. Only these JSON lines cross the pipe.

Protocol (version PROTOCOL). The service first writes one unsolicited line

    {"type": "ready", "protocol": 1, "trapo": "0.1.0", "device": "cuda:0", "engines": ["torch"], "pid": 123}

then reads one request a line, each with a client-chosen "id" (number or string) and an "op":

    {"id": 1, "op": "load", "slot": "a", "checkpoint": "<dir>", "dtype": "auto"}
    {"id": 2, "op": "generate", "slots": ["a", "b"], "prompt": "...", "max_tokens": 64, "temperature": 0.0,
     "seed": 0, "prompt_mode": "training"}
    {"id": 3, "op": "cancel", "target": 2}
    {"id": 4, "op": "unload", "slot": "a"}        (no slot: every slot)
    {"id": 5, "op": "status"}
    {"id": 6, "op": "shutdown"}

Every request ends with exactly one line {"id": N, "type": "ok", ...} or {"id": N, "type": "error", "code": ...,
"message": ...}; error codes: bad_request, not_found, not_loaded, out_of_memory, load_failed, engine_unavailable,
cancelled, internal. A generate request first streams, per slot (round robin, so both columns fill at once),

    {"id": 2, "type": "token", "slot": "a", "text": "<new text>"}
    {"id": 2, "type": "done", "slot": "a", "stopped": "eos" | "max_tokens" | "cancelled" | "error", "tokens": 12,
     "prompt_tokens": 30, "seconds": 0.41, "first_token_seconds": 0.05, "error": {...} (when stopped is error)}

A line that is not JSON, or a request that is not one of these, gets an error with code bad_request (id null when
the line had none) and the service reads on: a bad request never ends it. Requests run one at a time in order;
`cancel` is handled at once by the reader, so it stops a generation in progress between two tokens (a queued one
never starts). `shutdown` ends the service after what is queued; end of input (the client is gone) ends it at once:
the generation in progress stops and queued requests get the error `cancelled`.

Nothing else goes to stdout: the service moves file descriptor 1 to stderr at start, so that a print or a C
library's output can never break a line of the protocol (stderr is the service's log).
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .live_model import (
    IncrementalText,
    ServeError,
    available_engines,
    check_engine,
    free_memory,
    is_out_of_memory,
    live_prompt_ids,
    make_live_engine,
    run_config_of,
    stop_ids,
)

PROTOCOL = 1
SLOTS = ("a", "b")
PROMPT_MODES = ("training", "chat", "raw")
MAX_TOKENS_LIMIT = 32768


@dataclass
class Slot:
    checkpoint: str
    model: Any
    tokenizer: Any
    name: str
    parameters: int
    dtype: str
    stop_ids: list[int]
    run_config: dict | None
    load_seconds: float
    engine: Any = None


# --------------------------------------------------------------------------------------------- requests


def _int(req: dict, key: str, default: int | None, lo: int, hi: int) -> int:
    v = req.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ServeError("bad_request", f"{req.get('op')}: {key} must be an integer in {lo}..{hi}, got {v!r}")
    return v


def _slot(req: dict, key: str = "slot") -> str:
    s = req.get(key)
    if s not in SLOTS:
        raise ServeError("bad_request", f"{req.get('op')}: {key} must be one of {list(SLOTS)}, got {s!r}")
    return s


def check_request(req: Any) -> dict:
    """The request with its fields checked (ServeError bad_request when it is not one of the protocol's)."""
    if not isinstance(req, dict):
        raise ServeError("bad_request", "a request is a JSON object")
    rid = req.get("id")
    if rid is None or isinstance(rid, bool) or not isinstance(rid, (int, str)):
        raise ServeError("bad_request", "a request needs an \"id\" (a number or a string)")
    op = req.get("op")
    if op == "load":
        _slot(req)
        if not isinstance(req.get("checkpoint"), str) or not req["checkpoint"]:
            raise ServeError("bad_request", "load: checkpoint must be a directory path (or 'tiny')")
        if req.get("dtype", "auto") not in ("auto", "float32", "bfloat16", "float16"):
            raise ServeError("bad_request", f"load: dtype must be auto, float32, bfloat16 or float16, got "
                                            f"{req.get('dtype')!r}")
    elif op == "generate":
        slots = req.get("slots")
        if not isinstance(slots, list) or not slots or any(s not in SLOTS for s in slots) or len(set(slots)) != len(
                slots):
            raise ServeError("bad_request", f"generate: slots must be a non-empty list of distinct slots from "
                                            f"{list(SLOTS)}, got {slots!r}")
        if not isinstance(req.get("prompt"), str):
            raise ServeError("bad_request", "generate: prompt must be a string")
        _int(req, "max_tokens", None, 1, MAX_TOKENS_LIMIT)
        _int(req, "seed", 0, 0, 2**63 - 1)
        t = req.get("temperature", 0.0)
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 10:
            raise ServeError("bad_request", f"generate: temperature must be a number in 0..10, got {t!r}")
        if req.get("prompt_mode", "training") not in PROMPT_MODES:
            raise ServeError("bad_request", f"generate: prompt_mode must be one of {list(PROMPT_MODES)}, got "
                                            f"{req.get('prompt_mode')!r}")
    elif op == "cancel":
        t = req.get("target")
        if t is None or isinstance(t, bool) or not isinstance(t, (int, str)):
            raise ServeError("bad_request", "cancel: target must be the id of a request")
    elif op == "unload":
        if req.get("slot") is not None:
            _slot(req)
    elif op in ("status", "shutdown"):
        pass
    else:
        raise ServeError("bad_request", f"unknown op {op!r} (load, generate, cancel, unload, status, shutdown)")
    return req


class Service:
    """The service: a reader (the caller's thread, `serve_lines`) and one worker thread that runs the requests."""

    def __init__(self, out: TextIO, *, device: str = "auto", engine: str = "auto",
                 log: Callable[[str], None] | None = None, loader: Callable[..., tuple] | None = None):
        from .distributed import resolve_device

        self.out = out
        self.device = resolve_device(device)
        self.engine_name = engine
        self.log = log or (lambda m: print(f"[trapo serve] {m}", file=sys.stderr, flush=True))
        self._loader = loader
        self.slots: dict[str, Slot] = {}
        check_engine(engine)
        self._jobs: queue.Queue[dict | None] = queue.Queue()
        self._cancelled: set = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._worker = threading.Thread(target=self._work, name="trapo-serve-worker", daemon=True)

    # -- output

    def send(self, obj: dict) -> None:
        line = json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n"
        with self._lock:
            if self._closed.is_set() and obj.get("type") not in ("ok", "error"):
                return
            try:
                self.out.write(line)
                self.out.flush()
            except (BrokenPipeError, ValueError, OSError):
                self._closed.set()  # the client is gone: nothing left to answer

    def _error(self, rid, code: str, message: str, **extra) -> None:
        self.send({"id": rid, "type": "error", "code": code, "message": message, **extra})

    # -- reading

    def serve_lines(self, lines) -> None:
        """Reads requests until end of input or shutdown, then waits for the worker to finish."""
        import torch

        self._worker.start()
        self.send({"type": "ready", "protocol": PROTOCOL, "trapo": _version(), "device": self.device,
                   "engines": available_engines(), "engine": self.engine_name, "torch": torch.__version__,
                   "pid": os.getpid()})
        shutdown = False
        try:
            for n, line in enumerate(lines, 1):
                if line.strip() and not self._accept(n, line):
                    shutdown = True
                    break
        finally:
            if not shutdown:
                # end of input: the client is gone, so nothing queued is worth doing; stop what runs
                self._cancelled.add("*")
            self._jobs.put(None)
            self._worker.join()

    def _accept(self, n: int, line: str) -> bool:
        try:
            raw = json.loads(line)
        except ValueError as err:
            self._error(None, "bad_request", f"line {n} is not JSON: {err}")
            return True
        rid = raw.get("id") if isinstance(raw, dict) else None
        try:
            req = check_request(raw)
        except ServeError as err:
            self._error(rid if isinstance(rid, (int, str)) and not isinstance(rid, bool) else None, err.code,
                        err.message)
            return True
        if req["op"] == "cancel":
            self._cancelled.add(req["target"])
            self.send({"id": rid, "type": "ok"})
            return True
        if req["op"] == "shutdown":
            self._jobs.put(req)  # after what is queued
            return False
        self._jobs.put(req)
        return True

    # -- the worker

    def _work(self) -> None:
        while True:
            req = self._jobs.get()
            if req is None:
                break
            rid = req["id"]
            if "*" in self._cancelled and req["op"] != "shutdown":
                self._error(rid, "cancelled", f"{req['op']}: not run, the service is ending")
                continue
            try:
                {"load": self._load, "generate": self._generate, "unload": self._unload, "status": self._status,
                 "shutdown": self._shutdown}[req["op"]](req)
            except ServeError as err:
                self._error(rid, err.code, err.message)
            except BaseException as err:  # noqa: BLE001 - a failing request must not end the service
                if is_out_of_memory(err):
                    free_memory()
                    self._error(rid, "out_of_memory", f"{req['op']}: out of memory on {self.device}: {err}"
                                .strip()[:2000])
                else:
                    self._error(rid, "internal", f"{req['op']}: {type(err).__name__}: {err}"[:2000])
            if req["op"] == "shutdown":
                break
        self.slots.clear()
        free_memory()

    def _shutdown(self, req: dict) -> None:
        self.slots.clear()
        free_memory()
        self.send({"id": req["id"], "type": "ok"})

    def _status(self, req: dict) -> None:
        self.send({"id": req["id"], "type": "ok", "device": self.device, "slots": {
            k: {"checkpoint": s.checkpoint, "model": s.name, "parameters": s.parameters, "dtype": s.dtype}
            for k, s in self.slots.items()}})

    def _unload(self, req: dict) -> None:
        which = [req["slot"]] if req.get("slot") else list(self.slots)
        for k in which:
            self.slots.pop(k, None)
        free_memory()
        self.send({"id": req["id"], "type": "ok", "unloaded": which})

    def _load(self, req: dict) -> None:
        slot, path = req["slot"], req["checkpoint"]
        ckpt = Path(path)
        if path != "tiny":
            if not ckpt.exists():
                raise ServeError("not_found", f"checkpoint {path} does not exist (deleted, or not on this machine)")
            if not (ckpt / "config.json").is_file():
                raise ServeError("not_found", f"{path} is not a model checkpoint: it has no config.json")
        # a model already in this slot goes first, so that loading B after A never needs room for three models
        self.slots.pop(slot, None)
        free_memory()
        run_config = run_config_of(ckpt) if path != "tiny" else None
        dtype = req.get("dtype", "auto")
        if dtype == "auto" and run_config:
            dtype = (run_config.get("model") or {}).get("dtype", "auto") or "auto"
        t0 = time.perf_counter()
        try:
            model, tok, name = (self._loader or _load_model)(path, device=self.device, dtype=dtype)
        except ServeError:
            raise
        except FileNotFoundError as err:
            raise ServeError("not_found", str(err)) from None
        except BaseException as err:  # noqa: BLE001
            if is_out_of_memory(err):
                free_memory()
                other = [f"{k}: {s.name}" for k, s in self.slots.items()]
                raise ServeError("out_of_memory", f"out of memory loading {path} on {self.device}"
                                 + (f" with {', '.join(other)} loaded" if other else "")
                                 + f" ({err})".replace("\n", " ")[:1500]) from None
            raise ServeError("load_failed", f"cannot load {path}: {type(err).__name__}: {err}"[:2000]) from None
        try:
            engine = make_live_engine(self.engine_name, model, run_config, self.device)
        except BaseException:
            del model
            free_memory()
            raise
        params = sum(p.numel() for p in model.parameters())
        real_dtype = str(next(model.parameters()).dtype).replace("torch.", "")
        s = Slot(checkpoint=path, model=model, tokenizer=tok, name=name, parameters=params, dtype=real_dtype,
                 stop_ids=stop_ids(model, tok), run_config=run_config, load_seconds=time.perf_counter() - t0,
                 engine=engine)
        self.slots[slot] = s
        self.log(f"slot {slot}: {name} ({params:,} parameters, {real_dtype}) on {self.device} in "
                 f"{s.load_seconds:.1f} s")
        self.send({"id": req["id"], "type": "ok", "slot": slot, "model": name, "parameters": params,
                   "dtype": real_dtype, "device": self.device, "seconds": round(s.load_seconds, 3),
                   "stop_ids": s.stop_ids, "chat_template": bool(getattr(tok, "chat_template", None))})

    def _is_cancelled(self, rid) -> bool:
        return rid in self._cancelled or "*" in self._cancelled

    def _generate(self, req: dict) -> None:
        import torch

        rid = req["id"]
        missing = [s for s in req["slots"] if s not in self.slots]
        if missing:
            raise ServeError("not_loaded", f"generate: no model loaded in slot {', '.join(missing)}")
        t0 = time.perf_counter()
        mode = req.get("prompt_mode", "training")
        streams = {}
        for k in req["slots"]:
            s = self.slots[k]
            try:
                _, ids = live_prompt_ids(s.tokenizer, req["prompt"], mode, s.run_config)
            except ServeError as err:
                raise ServeError(err.code, f"slot {k}: {err.message}") from None
            gen = torch.Generator().manual_seed(int(req.get("seed", 0)))
            stream = s.engine.stream(s.model, ids, max_new_tokens=req["max_tokens"],
                                        temperature=float(req.get("temperature", 0.0)), stop_ids=s.stop_ids,
                                        generator=gen)
            streams[k] = _Live(k, stream, IncrementalText(s.tokenizer), set(s.stop_ids), len(ids))
        active = list(streams.values())
        while active:
            for live in list(active):
                if self._is_cancelled(rid):
                    live.finish("cancelled")
                else:
                    live.step(self, rid, t0)
                if live.stopped is not None:
                    self._done(rid, live, t0)
                    active.remove(live)
        self._cancelled.discard(rid)
        self.send({"id": rid, "type": "ok", "seconds": round(time.perf_counter() - t0, 4)})

    def _done(self, rid, live: _Live, t0: float) -> None:
        rest = live.text.flush()
        if rest:
            self.send({"id": rid, "type": "token", "slot": live.slot, "text": rest})
        msg = {"id": rid, "type": "done", "slot": live.slot, "stopped": live.stopped, "tokens": live.tokens,
               "prompt_tokens": live.prompt_tokens, "seconds": round(time.perf_counter() - t0, 4),
               "first_token_seconds": None if live.first is None else round(live.first - t0, 4)}
        if live.error is not None:
            msg["error"] = live.error
        self.send(msg)


@dataclass
class _Live:
    """One slot's answer in progress."""

    slot: str
    stream: Any
    text: IncrementalText
    stops: set
    prompt_tokens: int
    tokens: int = 0
    first: float | None = None
    stopped: str | None = None
    error: dict | None = field(default=None)

    def finish(self, why: str, error: dict | None = None) -> None:
        self.stopped = why
        self.error = error
        self.stream.close()

    def step(self, service: Service, rid, t0: float) -> None:
        try:
            tok = next(self.stream)
        except StopIteration:
            self.stopped = "max_tokens"
            return
        except BaseException as err:  # noqa: BLE001 - one side failing leaves the other side running
            oom = is_out_of_memory(err)
            if oom:
                free_memory()
            self.finish("error", {"code": "out_of_memory" if oom else "internal",
                                  "message": f"{type(err).__name__}: {err}"[:2000]})
            return
        if self.first is None:
            self.first = time.perf_counter()
        if tok in self.stops:
            self.finish("eos")
            return
        self.tokens += 1
        delta = self.text.push(tok)
        if delta:
            service.send({"id": rid, "type": "token", "slot": self.slot, "text": delta})


def _load_model(path: str, *, device: str, dtype: str):
    from . import models

    return models.load_policy(path, device=device, dtype=dtype, seed=0)


def _version() -> str:
    from . import __version__

    return __version__


def protocol_stdout() -> TextIO:
    """The real stdout for the protocol; file descriptor 1 (and sys.stdout) then point at stderr."""
    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", encoding="utf-8", buffering=1, newline="\n")


def main(device: str = "auto", engine: str = "auto", threads: int | None = None) -> int:
    out = protocol_stdout()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    if threads:
        torch.set_num_threads(threads)
    try:
        service = Service(out, device=device, engine=engine)
    except ServeError as err:
        out.write(json.dumps({"type": "error", "id": None, "code": err.code, "message": err.message}) + "\n")
        out.flush()
        return 2
    stdin = open(sys.stdin.fileno(), encoding="utf-8", errors="replace", closefd=False)
    service.serve_lines(stdin)
    return 0
