"""Per-flow timings: how long a pod took to get its VF, the VF to come back, the pool to settle, the flow itself.

Measured where the work happens (the suite's helpers), collected per test, printed as a table at the end of a run
and saved as JSON for the benchmarks. Timings are reported, never asserted.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

POD_READY = "pod ready with VF"
VF_RETURNED = "VF returned after delete"
POOL_RESTORED = "pool restored"
FLOW_TOTAL = "flow total"
COLUMNS = (POD_READY, VF_RETURNED, POOL_RESTORED, FLOW_TOTAL)


@dataclass
class FlowTimes:
    flow: str
    outcome: str = "?"
    phases: dict[str, list[float]] = field(default_factory=dict)
    marks: dict[str, float] = field(default_factory=dict)  # monotonic times a later phase measures from

    def add(self, phase: str, seconds: float) -> None:
        self.phases.setdefault(phase, []).append(round(seconds, 3))

    def cell(self, phase: str) -> str:
        vals = self.phases.get(phase)
        if not vals:
            return "-"
        if len(vals) == 1:
            return f"{vals[0]:.1f}s"
        return f"{statistics.median(vals):.1f}s (max {max(vals):.1f}, n={len(vals)})"


class Recorder:
    """The current flow's timings; helpers call `record`/`timed` and stay silent outside a flow."""

    def __init__(self) -> None:
        self.flows: list[FlowTimes] = []
        self.current: FlowTimes | None = None
        self.save_to: Path | None = None

    def mark(self, name: str) -> None:
        if self.current is not None:
            self.current.marks[name] = time.monotonic()

    def since(self, name: str, phase: str) -> None:
        """Record `phase` as the time from mark `name` until now (nothing if the mark is missing)."""
        if self.current is not None and name in self.current.marks:
            self.record(phase, time.monotonic() - self.current.marks.pop(name))

    def start(self, flow: str) -> FlowTimes:
        self.current = FlowTimes(flow)
        self.flows.append(self.current)
        return self.current

    def record(self, phase: str, seconds: float) -> None:
        if self.current is not None:
            self.current.add(phase, seconds)

    @contextlib.contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        t0 = time.monotonic()
        yield
        self.record(phase, time.monotonic() - t0)

    def table(self) -> str:
        rows = [["flow", *COLUMNS, "outcome"]]
        rows += [[f.flow, *(f.cell(c) for c in COLUMNS), f.outcome] for f in self.flows]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps([{"flow": f.flow, "outcome": f.outcome, "phases": f.phases}
                                    for f in self.flows], indent=2), encoding="utf-8")


RECORDER = Recorder()
