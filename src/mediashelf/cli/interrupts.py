"""Ctrl-C and SIGTERM in a job command: an interrupt, never half of a step.

`timeout`, systemd and `docker stop` send SIGTERM; it interrupts a job command as Ctrl-C
does, so the job it runs is cancelled and one outcome is printed. While the job is being
requested, both are held: one arriving during the commit (after the row was written,
before the command knew its id) left the job queued and never cancelled, and every later
scan refused for it; a broken session could even report "database cannot be used".
"""

from __future__ import annotations

import signal
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def terminate_as_interrupt() -> None:
    """Let SIGTERM end a job command as Ctrl-C does."""
    signal.signal(signal.SIGTERM, _raise_interrupt)


class HeldInterrupts:
    """Ctrl-C and SIGTERM recorded instead of raised, from creation until `release`."""

    def __init__(self) -> None:
        self.arrived = False
        self._previous = {sig: signal.signal(sig, self._record) for sig in _SIGNALS}

    def _record(self, _signum: int, _frame: FrameType | None) -> None:
        self.arrived = True

    def restore(self) -> None:
        """Put the previous handlers back (once; later calls do nothing)."""
        previous, self._previous = self._previous, {}
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def release(self) -> None:
        """Restore the handlers, then raise the KeyboardInterrupt that arrived meanwhile."""
        self.restore()
        if self.arrived:
            self.arrived = False
            raise KeyboardInterrupt
