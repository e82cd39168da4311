"""`sriov-e2e vfs create`, VFs handed to live netns, `inspect`, `vfs destroy`: the seed's health check."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable

import pytest
from clihelp import cli, inspect_json

from sriov_e2e import hostsnap
from sriov_e2e.pytest_plugin import PodNetns
from sriov_e2e.state import State

pytestmark = [pytest.mark.integration]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def test_inspect_counts_in_use_leaked_and_available_then_destroy_leaves_nothing(
    state: State, pod_netns: Callable[[], PodNetns]
) -> None:
    before = hostsnap.snapshot()
    pf = f"fp{uuid.uuid4().hex[:5]}"
    cli(state, "vfs", "create", "--pf", pf, "--count", "8", "--backend", "veth")
    pods = [pod_netns() for _ in range(3)]
    for i, pod in enumerate(pods, start=1):  # what a CNI ADD does: move, rename, up
        _ip("link", "set", f"{pf}v{i}", "netns", pod.name)
        _ip("-n", pod.name, "link", "set", f"{pf}v{i}", "name", "net1")
        _ip("-n", pod.name, "link", "set", "net1", "up")
    _ip("link", "set", f"{pf}v5", "up")  # up on the host with no owner: a leak

    d = inspect_json(state, pf)
    assert (d["total"], d["in_use"], d["leaked"], d["available"]) == (8, 3, 1, 4), d
    by_index = {vf["index"]: vf for vf in d["vfs"]}
    for i, pod in enumerate(pods, start=1):
        assert (by_index[i]["netns"], by_index[i]["name"], by_index[i]["class"], by_index[i]["admin_up"]) == (
            pod.name, "net1", "in-use", True)
    assert (by_index[5]["netns"], by_index[5]["class"]) == (None, "leaked")
    assert by_index[0]["class"] == "idle" and by_index[0]["name"] == f"{pf}v0"

    warn = cli(state, "inspect", "--pf", pf, "--warn-at", "80", check=False)
    assert warn.returncode == 3 and "1 leaked VF" in warn.stderr
    _ip("link", "set", f"{pf}v5", "down")
    assert cli(state, "inspect", "--pf", pf, "--warn-at", "80", check=False).returncode == 0  # 3/8 in use < 80 %
    assert cli(state, "inspect", "--pf", pf, "--warn-at", "30", check=False).returncode == 3  # 37.5 % > 30 %

    cli(state, "vfs", "destroy", "--pf", pf)
    for pod in pods:  # the VFs in the pods went with their pairs
        links = subprocess.run(["ip", "-n", pod.name, "-o", "link"], capture_output=True, text=True).stdout
        assert "net1" not in links
    for p in pods:
        p.holder.terminate()
        p.holder.wait()
        subprocess.run(["ip", "netns", "delete", p.name], check=True)
    assert not state.root.exists(), f"state dir {state.root} left behind: {list(state.root.iterdir())}"
    assert before.diff(hostsnap.snapshot()) == []


def test_a_vf_in_a_netns_nobody_holds_is_leaked(state: State, make_pool: Callable[..., object]) -> None:
    rec = make_pool(2)
    pf = rec.spec.pf_name  # type: ignore[attr-defined]
    ns = f"sriov-e2e-dead-{uuid.uuid4().hex[:6]}"
    _ip("netns", "add", ns)  # pinned by its mount only: the sandbox's processes are gone
    try:
        _ip("link", "set", f"{pf}v1", "netns", ns)
        d = inspect_json(state, pf)
        assert (d["vfs"][1]["class"], d["vfs"][1]["netns"], d["leaked"]) == ("leaked", ns, 1)
    finally:
        _ip("netns", "delete", ns)
    # the veth pair died with the netns: the PCI function has no netdev anywhere now
    d = inspect_json(state, pf)
    assert (d["vfs"][1]["class"], d["missing"]) == ("missing", 1)
