"""math-verify, run so that no answer can hang a rank (docs/algorithm.md §7.3).

The check is the reference's: `verify(parse("$" + ground_truth + "$"), parse(response))`. math-verify's own timeouts
use SIGALRM, which only works in a process's main thread, so here they are switched off and the deadline is ours:

- `VerifyPool(workers > 0)`: worker processes (`python -m trapo.verify`: fresh interpreters, so nothing of torch or
  CUDA is inherited and the caller's main script is not re-run, as multiprocessing's spawn would) each check one
  answer at a time over JSON lines on their stdin/stdout; an answer past its deadline has its worker killed and
  replaced, and is scored 0 and counted as a timeout. Works from any thread; several answers are checked at once.
- `VerifyPool(workers = 0)`: in this process, the deadline by `signal.setitimer` (main thread only; refused
  elsewhere). A signal interrupts Python code only: a long C-level operation (sympy evaluating 9^9^9^9 spends
  minutes in one big-integer power, and its memory) runs to its end, so the pool is the default.

A plain process pool (concurrent.futures) cannot stop one task that runs too long, hence the small hand-written
dispatcher below.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path


@dataclass
class Verdict:
    correct: bool
    extracted: str | None  # the answer math-verify found in the response (its matched text), for display
    timed_out: bool = False
    error: str | None = None  # the checker itself failed (a worker died): scored 0


def verify_answer(text: str, ground_truth: str) -> tuple[bool, str | None]:
    """The reference's check, without math-verify's own (signal-based) timeouts: call it under a deadline."""
    from math_verify import parse, verify

    gold = parse("$" + ground_truth + "$", parsing_timeout=None)  # pyright: ignore[reportArgumentType] (None: no timeout)
    pred = parse(text, parsing_timeout=None)  # pyright: ignore[reportArgumentType]
    ok = bool(verify(gold, pred, timeout_seconds=None)) if gold and pred else False
    extracted = None
    if pred:
        extracted = pred[-1] if isinstance(pred[-1], str) else str(pred[0])
    return ok, extracted


def _quiet_math_verify() -> None:
    # math-verify warns once that its own timeout is off: that is on purpose here
    logging.getLogger("math_verify").setLevel(logging.ERROR)


def _worker_stdio() -> None:
    """The worker's loop: one JSON task a line on stdin ([index, text, truth]), one JSON verdict a line on stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the trainer, which ends its workers
    # Slurm's time-limit notice reaches every process of the job step, these too: the trainer acts on it (it saves and
    # stops, then ends its workers); here its default action would end the worker in the middle of the step.
    for name in ("SIGUSR1", "SIGUSR2"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    _quiet_math_verify()
    import math_verify  # noqa: F401 - imported before the first deadline starts

    out = sys.stdout
    out.write('"ready"\n')
    out.flush()
    for line in sys.stdin:
        idx, text, truth = json.loads(line)
        try:
            ok, extracted = verify_answer(text, truth)
            reply = [idx, ok, extracted, None]
        except Exception as exc:  # noqa: BLE001 - a checker error scores 0, it does not stop training
            reply = [idx, False, None, f"{type(exc).__name__}: {exc}"[:200]]
        out.write(json.dumps(reply) + "\n")
        out.flush()


class _Deadline(Exception):
    pass


class _Worker:
    def __init__(self):
        import trapo

        env = dict(os.environ)
        root = str(Path(trapo.__file__).resolve().parent.parent)  # the trapo being run, wherever it comes from
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen([sys.executable, "-m", "trapo.verify"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, start_new_session=True)
        self.conn = self.proc.stdout  # what `wait` watches
        self.task: int | None = None
        self.started = 0.0
        self.ready = False  # has imported math-verify (seconds on a loaded machine): deadlines start after that
        self.born = time.monotonic()

    def send(self, obj) -> None:
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())  # pyright: ignore[reportOptionalMemberAccess] (PIPE)
        self.proc.stdin.flush()  # pyright: ignore[reportOptionalMemberAccess]

    def recv(self):
        line = self.proc.stdout.readline()  # pyright: ignore[reportOptionalMemberAccess] (PIPE)
        if not line:
            raise EOFError("math-verify worker closed its output")
        return json.loads(line)

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except Exception:  # noqa: BLE001
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()  # pyright: ignore[reportOptionalMemberAccess] (PIPE)
            except Exception:  # noqa: BLE001
                pass


STARTUP_S = 300.0  # how long worker processes may take to import math-verify before the pool gives up


class VerifyPool:
    """Checks answers with math-verify under a per-answer deadline; `timeouts` counts the answers that ran past it."""

    def __init__(self, workers: int = 2, timeout_s: float = 10.0):
        if workers < 0:
            raise ValueError("workers must be >= 0")
        self.n_workers, self.timeout_s = workers, float(timeout_s)
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self.timeouts = 0
        self.errors = 0
        self._start_failures = 0

    # ------------------------------------------------------------------ one process

    def _in_process(self, pairs: Sequence[tuple[str, str]]) -> list[Verdict]:
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("reward.workers: 0 checks answers in the main thread (its deadline is a signal); "
                               "this call came from another thread: set reward.workers >= 1")
        _quiet_math_verify()

        def on_alarm(signum, frame):
            raise _Deadline()

        out = []
        old = signal.signal(signal.SIGALRM, on_alarm)
        try:
            for text, truth in pairs:
                signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
                try:
                    ok, extracted = verify_answer(text, truth)
                    out.append(Verdict(ok, extracted))
                except _Deadline:
                    self.timeouts += 1
                    out.append(Verdict(False, None, timed_out=True))
                except Exception as exc:  # noqa: BLE001
                    self.errors += 1
                    out.append(Verdict(False, None, error=f"{type(exc).__name__}: {exc}"[:200]))
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
        finally:
            signal.signal(signal.SIGALRM, old)
        return out

    # ------------------------------------------------------------------ worker processes

    def _start(self) -> None:
        while len(self._workers) < self.n_workers:
            self._workers.append(_Worker())

    def _replace(self, i: int) -> None:
        self._workers[i].kill()
        self._workers[i] = _Worker()

    def verify_many(self, pairs: Sequence[tuple[str, str]]) -> list[Verdict]:
        if not pairs:
            return []
        if self.n_workers == 0:
            return self._in_process(pairs)
        with self._lock:
            return self._dispatch(pairs)

    def _dispatch(self, pairs: Sequence[tuple[str, str]]) -> list[Verdict]:
        self._start()
        results: list[Verdict | None] = [None] * len(pairs)
        pending = deque(range(len(pairs)))
        while pending or any(w.task is not None for w in self._workers):
            for w in self._workers:
                if w.ready and w.task is None and pending:
                    i = pending.popleft()
                    try:
                        w.send([i, pairs[i][0], pairs[i][1]])
                    except OSError:  # the worker died while idle (killed): the answer goes to another one
                        self.errors += 1
                        pending.appendleft(i)
                        self._replace(self._workers.index(w))
                        continue
                    w.task, w.started = i, time.monotonic()
            busy = [w for w in self._workers if w.task is not None]
            starting = [w for w in self._workers if not w.ready]
            if not busy and starting and all(time.monotonic() - w.born > STARTUP_S for w in starting):
                raise RuntimeError(f"math-verify worker processes did not start within {STARTUP_S:.0f} s")
            deadlines = [w.started + self.timeout_s for w in busy] + [time.monotonic() + 1.0] * bool(starting)
            ready = wait([w.conn for w in busy + starting], timeout=max(min(deadlines) - time.monotonic(), 0.0))  # pyright: ignore[reportArgumentType] (pipes)
            for k, w in enumerate(self._workers):
                if w.conn not in ready:
                    continue
                if not w.ready:
                    try:
                        w.ready = w.recv() == "ready"
                    except (EOFError, OSError):  # could not even start (math-verify missing?): retry twice
                        self.errors += 1
                        self._start_failures += 1
                        if self._start_failures > 2:
                            raise RuntimeError("math-verify worker processes die while starting") from None
                        self._replace(k)
                    continue
                if w.task is None:
                    continue
                try:
                    idx, ok, extracted, err = w.recv()
                except (EOFError, OSError, ValueError):  # the worker died (out of memory, killed): score 0, replace it
                    self.errors += 1
                    results[w.task] = Verdict(False, None, error="math-verify worker died")
                    self._replace(k)
                    continue
                if err is not None:
                    self.errors += 1
                results[idx] = Verdict(ok, extracted, error=err)
                w.task = None
            now = time.monotonic()
            for k, w in enumerate(self._workers):
                if w.task is not None and now - w.started > self.timeout_s and results[w.task] is None:
                    self.timeouts += 1
                    results[w.task] = Verdict(False, None, timed_out=True)
                    self._replace(k)
        return [r if r is not None else Verdict(False, None, error="lost") for r in results]

    def close(self) -> None:
        for w in self._workers:
            try:
                w.proc.stdin.close()  # pyright: ignore[reportOptionalMemberAccess] (the worker's loop ends at end of input)
                w.proc.wait(timeout=2)
            except Exception:  # noqa: BLE001
                pass
            w.kill()
        self._workers = []

    def __del__(self):  # pragma: no cover - best effort at interpreter exit
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass


def default_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 2) // 2))


if __name__ == "__main__":  # python -m trapo.verify: one worker of VerifyPool
    _worker_stdio()
