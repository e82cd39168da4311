"""Run the `sriov-e2e` CLI as a user would, against a test's own state dir."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from sriov_e2e.state import State


def cli(state: State, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([sys.executable, "-m", "sriov_e2e", "--state-dir", str(state.root), *args],
                       capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"sriov-e2e {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p


def inspect_json(state: State, pf: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(cli(state, "inspect", "--pf", pf, "--json").stdout)["pfs"][0]
    return out
