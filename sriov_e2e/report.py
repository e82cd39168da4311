"""`python -m sriov_e2e.report`: a plain-text summary of an e2e run for terminals (JUnit XML + timings JSON).

The HTML report is Allure's (`make report`); this is what a terminal or a CI log shows.
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Case:
    name: str
    outcome: str  # passed | failed | error | skipped
    seconds: float
    message: str


def read_junit(path: Path) -> list[Case]:
    root = ET.parse(path).getroot()  # noqa: S314 (a file our own run wrote)
    cases = []
    for tc in root.iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = tc.find(tag)
            if el is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message = (el.get("message") or el.text or "").strip().splitlines()[0][:300] if (
                    el.get("message") or el.text) else ""
                break
        cases.append(Case(f"{tc.get('classname', '')}::{tc.get('name', '')}", outcome,
                          float(tc.get("time", 0.0)), message))
    return cases


def _flow_total(entry: dict[str, Any]) -> float:
    return float(max(entry.get("phases", {}).get("flow total", [0.0])))


def summary(cases: list[Case], timings: list[dict[str, Any]] | None) -> str:
    counts = {o: sum(1 for c in cases if c.outcome == o) for o in ("passed", "failed", "error", "skipped")}
    lines = [f"{len(cases)} flows: " + ", ".join(f"{n} {o}" for o, n in counts.items() if n),
             f"total {sum(c.seconds for c in cases):.0f}s"]
    for c in cases:
        if c.outcome != "passed":
            lines.append(f"  {c.outcome.upper():8} {c.name}: {c.message}")
    if timings:
        lines.append("slowest flows:")
        for t in sorted(timings, key=_flow_total, reverse=True)[:5]:
            lines.append(f"  {t['flow']}: {_flow_total(t):.1f}s")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sriov_e2e.report", description=__doc__)
    p.add_argument("--junit", required=True, type=Path)
    p.add_argument("--timings", type=Path, default=None)
    args = p.parse_args(argv)
    if not args.junit.is_file():
        print(f"sriov-e2e report: no JUnit file {args.junit} (run make e2e first)", file=sys.stderr)
        return 2
    timings = json.loads(args.timings.read_text()) if args.timings and args.timings.is_file() else None
    print(summary(read_junit(args.junit), timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
