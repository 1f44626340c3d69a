"""Stopping a run without losing finished work: the extension's Stop, Ctrl-C in a terminal, a cluster's SIGTERM.

The first SIGINT or SIGTERM asks the trainer to stop. Work whose loss costs nothing finished is dropped at once: the
rollout of the step in progress, its forward and backward passes before the optimizer step, an evaluation. The
trainer then saves the last finished step and ends `stopped`, so a Stop takes seconds in any phase rather than the
rest of an evaluation that can take minutes on a real model. What cannot be dropped without losing or corrupting
something finishes first: the optimizer step, writing the step's files, a checkpoint being written.

With several processes (torchrun) one rank cannot drop work alone: its peers would wait for it in a collective. There
the step is finished, then saved, the ranks agreeing on the stop at the step's end. A second signal stops at once,
without saving (the run resumes from its last checkpoint).

Nothing here imports torch: the signal handler only sets a flag, or raises inside droppable work.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class StopRequested(BaseException):
    """Raised in the main thread when a stop was asked during droppable work. A BaseException, like
    KeyboardInterrupt, so that code catching Exception (a generation engine, an export) does not swallow it."""


class StopControl:
    """Whether a stop was asked, and whether the work running now may be dropped for it."""

    def __init__(self, can_drop: bool):
        self.can_drop = can_drop
        self.requested = False
        self._depth = 0

    @contextmanager
    def droppable(self) -> Iterator[None]:
        """Work inside may be dropped: a stop signal during it raises StopRequested there, at once."""
        if not self.can_drop:
            yield
            return
        self.drop_point()
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1

    def drop_point(self) -> None:
        """Between two pieces of droppable work (micro-batches): raises StopRequested when a stop was asked."""
        if self.can_drop and self.requested:
            raise StopRequested

    def on_signal(self) -> bool:
        """Records a first stop signal. True when the work running now is droppable: the handler raises then."""
        self.requested = True
        return self.can_drop and self._depth > 0
