"""The one wait helper: poll a check until it passes, bounded, failing with what was last seen."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from sriov_e2e.timeouts import TIMEOUTS

T = TypeVar("T")


class NotYet(AssertionError):
    """Raised by a check that has not passed yet; its message says what it saw and what it wants."""


class WaitTimeout(AssertionError):
    """A bounded wait ran out; the message names the object and the last observed state."""


def wait_until(check: Callable[[], T], *, timeout: float, what: str, interval: float | None = None) -> T:
    """Call `check` until it returns without raising NotYet; other exceptions end the wait at once."""
    last: list[str] = []

    def attempt() -> T:
        try:
            return check()
        except NotYet as e:
            last[:] = [str(e)]
            raise

    try:
        for a in Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(interval or TIMEOUTS.poll),
                          retry=retry_if_exception_type(NotYet), reraise=True):
            with a:
                return attempt()
    except NotYet:
        raise WaitTimeout(f"{what}: {last[0] if last else 'never checked'} after {timeout:g}s") from None
    raise AssertionError("unreachable")  # pragma: no cover
