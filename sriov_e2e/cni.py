"""Run a CNI plugin the way a runtime does (CNI spec: env + config on stdin + result on stdout)."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sriov_e2e.errors import HarnessError
from sriov_e2e.timeouts import TIMEOUTS


@dataclass(frozen=True)
class CniResult:
    command: str
    returncode: int
    result: dict[str, Any] | None
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def invoke(
    command: str,
    conf: dict[str, Any],
    *,
    cni_path: Path,
    container_id: str,
    netns: str,
    ifname: str,
    args: str = "",
    timeout: float | None = None,
) -> CniResult:
    """One CNI call: ADD, CHECK or DEL of plugin `conf["type"]` found in `cni_path`."""
    plugin = cni_path / str(conf["type"])
    if not os.access(plugin, os.X_OK):
        raise HarnessError(f"CNI plugin {conf['type']}: not found in {cni_path}")
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": netns,
        "CNI_IFNAME": ifname,
        "CNI_ARGS": args,
        "CNI_PATH": str(cni_path),
    }
    try:
        p = subprocess.run([str(plugin)], input=json.dumps(conf), env=env, capture_output=True, text=True,
                           timeout=timeout or TIMEOUTS.cni)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"CNI {command} {conf['type']} for {container_id}: no answer after "
                           f"{timeout or TIMEOUTS.cni:g}s") from None
    out = p.stdout.strip()
    try:
        parsed = json.loads(out) if out else None
    except ValueError:
        parsed = {"unparsed": out}
    return CniResult(command, p.returncode, parsed, p.stderr.strip() or (out if p.returncode else ""))
