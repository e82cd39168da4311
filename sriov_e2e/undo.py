"""Undo stacks: everything the harness creates is registered with its removal, undone in reverse order."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Self

log = logging.getLogger(__name__)


class UndoStack:
    """LIFO list of (description, undo) pairs.

    `undo()` runs every step even when one fails (a step that finds its object already gone is expected to succeed
    quietly), then raises the first failure so it is not lost.
    """

    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], None]]] = []

    def push(self, description: str, undo: Callable[[], None]) -> None:
        self._steps.append((description, undo))

    def __len__(self) -> int:
        return len(self._steps)

    def undo(self) -> None:
        with _interrupts_deferred():
            self._undo_all()

    def _undo_all(self) -> None:
        first: BaseException | None = None
        while self._steps:
            description, step = self._steps.pop()
            try:
                step()
            except BaseException as e:  # keep undoing: a half-undone host is the worst outcome
                log.error("undo %s failed: %s", description, e)
                first = first or e
        if first is not None:
            raise first

    def discard(self) -> None:
        """Forget the steps: what they would undo is now owned elsewhere (e.g. recorded in the state dir)."""
        self._steps.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            self.undo()


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while undoing (a second Ctrl-C must not leave the host half-undone), then re-deliver."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    sigs = (signal.SIGINT, signal.SIGTERM)
    saved = {s: signal.signal(s, lambda signum, frame: pending.append(signum)) for s in sigs}
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
    if pending:
        raise KeyboardInterrupt(f"signal {signal.Signals(pending[0]).name} during cleanup")


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def interrupts_as_exceptions() -> Iterator[None]:
    """Turn SIGTERM (and SIGHUP) into KeyboardInterrupt like SIGINT, so `finally` and undo stacks run."""
    if sys.platform != "linux":  # pragma: no cover
        yield
        return
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    for s in saved:
        signal.signal(s, _raise_interrupt)
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
