"""Slurm's signals to the trainer (no torch here: installed before the heavy imports).

- SIGUSR1 / SIGUSR2: the notice Slurm sends before a job's time limit (`--signal=USR1@120`, passed on to the
  trainer by the job's batch script and torchrun) or before a preemption. It asks for the same thing as a first
  Ctrl-C: drop the work in progress where nothing finished is lost (else finish the step), save the last finished
  step, end `stopped` (the job's script may then requeue the job, which
  resumes). A second notice is the same notice (Slurm signals every process of the step, torchrun forwards it
  again): it never means "stop now".
- Under Slurm a Stop (`scancel --signal=INT`) reaches a trainer twice within milliseconds, once from Slurm (with
  proctrack/cgroup or linuxproc every process of the step is signalled) and once from torchrun passing it on. Such a
  twin is not the user's second Ctrl-C: `is_twin` tells the interrupt handler to ignore it. Its arrival time cannot
  tell it apart: Python runs a handler only when the main thread is back in bytecode, and a rank waiting in a
  collective for a slower peer runs the twin's handler seconds after the first one (a "stop now" on that rank alone
  then breaks the other's collective, and nothing is saved: seen in CI). So under Slurm a signal that already came
  is always a twin, however late; "stop now" is another signal: `scancel` (SIGTERM) after `scancel --signal=INT`, as
  the extension's Stop escalates, or Slurm's SIGKILL.
- A handler runs on the main thread between any two bytecodes, also inside the run writer's lock or a print: it
  takes neither. `note` writes its line straight to stdout and leaves it for events.jsonl, where the heartbeat
  thread (or the run's end) writes it.
"""

from __future__ import annotations

import os
import signal
import threading

from .stopping import StopRequested

NOTICE_SIGNALS = tuple(getattr(signal, name) for name in ("SIGUSR1", "SIGUSR2") if hasattr(signal, name))

_early = {"notice": None}
_seen_interrupts: set[int] = set()


def under_slurm() -> bool:
    return bool(os.environ.get("SLURM_JOB_ID"))


def notice_text(signum: int, dropping: bool = False) -> str:
    name = signal.Signals(signum).name
    what = "dropping the work in progress" if dropping else "finishing this step"
    return (f"{name}: Slurm's notice before the time limit (or a preemption): {what}, then saving the last finished "
            f"step and stopping")


def install_early_notice() -> dict:
    """Before the trainer exists (imports, process-group set-up): remember a notice instead of dying of it."""

    def handler(signum, frame):
        _early["notice"] = signum

    _early["notice"] = None
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in NOTICE_SIGNALS}


def early_notice() -> int | None:
    """The notice signal that came before the trainer's own handlers were in place, if one did."""
    return _early["notice"]


def note(trainer, message: str, level: str = "warning") -> None:
    """A log line from a signal handler: no lock, no Python I/O buffer (see the module's docstring)."""
    if getattr(getattr(trainer, "dist", None), "is_main", True):
        try:
            os.write(1, f"[trapo] {message}\n".encode())
        except OSError:
            pass
    sink = getattr(trainer, "sink", None)
    if sink is not None and getattr(trainer, "started", False):
        sink.notes.append((level, message))
    elif sink is None and hasattr(trainer, "_log"):  # a stand-in trainer (tests) without a run writer
        trainer._log(message, level)


def install_notice(trainer) -> dict:
    """The trainer's notice handler: the first notice requests the stop (as a first Ctrl-C does), later ones are
    ignored."""

    def handler(signum, frame):
        if getattr(trainer, "stop_requested", False):
            return
        stop = getattr(trainer, "stop", None)  # trapo.stopping.StopControl: droppable work is dropped, as on Ctrl-C
        if stop is not None and stop.on_signal():
            note(trainer, notice_text(signum, dropping=True))
            raise StopRequested
        trainer.stop_requested = True
        note(trainer, notice_text(signum))

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in NOTICE_SIGNALS}


def is_twin(signum: int) -> bool:
    """Call on every SIGINT/SIGTERM: True under Slurm when this signal already came (a copy of the same Stop)."""
    seen = signum in _seen_interrupts
    _seen_interrupts.add(signum)
    return under_slurm() and seen


def forget_interrupts() -> None:
    """A trainer starts in this process (run_training; tests start several): no stop signal came for it yet."""
    _seen_interrupts.clear()


def stop_now_hint() -> str:
    """How to stop at once, without saving, after a first stop signal."""
    if under_slurm():
        return "scancel the job to stop now, without saving"
    return "Ctrl-C again to stop now, without saving"
