"""`sriov-e2e doctor`: every capability says yes or why not, agrees with the kernel, and leaves nothing behind."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sriov_e2e import hostsnap

pytestmark = [pytest.mark.integration]


def _kernel_accepts(kind: str) -> bool:
    ns = "sriov-e2e-doctor-check"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        args = ["peer", "name", "q"] if kind == "veth" else []
        return subprocess.run(["ip", "-n", ns, "link", "add", "x", "type", kind, *args],
                              capture_output=True).returncode == 0
    finally:
        subprocess.run(["ip", "netns", "delete", ns], check=True)


def test_doctor_json_matches_the_kernel_and_leaves_nothing() -> None:
    before = hostsnap.snapshot()
    p = subprocess.run([sys.executable, "-m", "sriov_e2e", "doctor", "--json"], capture_output=True, text=True,
                       check=True, timeout=120)
    doc = json.loads(p.stdout)
    caps = {c["name"]: c for c in doc["capabilities"]}
    for c in doc["capabilities"]:
        assert c["detail"], f"{c['name']}: no detail/reason"
    for kind in ("veth", "dummy", "bridge"):
        assert caps[kind]["ok"] is _kernel_accepts(kind), caps[kind]
    assert caps["root"]["ok"] is True
    assert doc["vf_backend"] in ("netdevsim", "dummy", "veth")
    assert before.diff(hostsnap.snapshot()) == []
