"""Bad input: one clear line naming the object, a non-zero exit, and nothing half-created."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest
from clihelp import cli

from sriov_e2e import hostsnap
from sriov_e2e.cli import main
from sriov_e2e.state import State

pytestmark = [pytest.mark.integration]


def _refused(state: State, *args: str, rc: int, message: str) -> None:
    before = hostsnap.snapshot()
    p = cli(state, *args, check=False)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == rc, f"exit {p.returncode}, stderr {p.stderr!r}"
    assert len(lines) == 1 and lines[0].startswith("sriov-e2e: error: ") and message in lines[0], lines
    assert before.diff(hostsnap.snapshot()) == []
    assert not state.root.exists(), f"{state.root} left behind"


@pytest.mark.parametrize(
    ("args", "rc", "message"),
    [
        (("vfs", "create", "--pf", "bpf0", "--count", "0", "--backend", "veth"), 2, "--count 0: out of range"),
        (("vfs", "create", "--pf", "bpf0", "--count", "129", "--backend", "veth"), 2, "allows 1..128"),
        (("vfs", "create", "--pf", "averyverylongpf", "--count", "2", "--backend", "veth"), 2, "must fit 15"),
        (("vfs", "create", "--pf", "bpf0", "--count", "2", "--backend", "veth", "--netns", "sriov-e2e-nope"), 2,
         "node netns sriov-e2e-nope: does not exist"),
        (("vfs", "create", "--pf", "bpf0", "--count", "2", "--backend", "veth", "--resource", "noslash"), 2,
         "want PREFIX/NAME"),
        (("vfs", "create", "--pf", "bpf0", "--count", "2", "--backend", "veth", "--flavor", "bnxt"), 2,
         "PCI flavor 'bnxt': unknown"),
        (("vfs", "destroy", "--pf", "bpf0"), 2, "PF bpf0: no pool of this name"),
        (("inspect", "--pf", "bpf0"), 2, "PF bpf0: no such network interface"),
        (("inspect", "--pf", "lo"), 2, "PF lo: not a PCI device"),
        (("inspect", "--warn-at", "150"), 2, "--warn-at 150"),
    ],
)
def test_bad_input_is_refused_cleanly(state: State, args: tuple[str, ...], rc: int, message: str) -> None:
    _refused(state, *args, rc=rc, message=message)


def test_a_backend_the_kernel_lacks_is_refused_with_the_reason(state: State) -> None:
    dummy_ok = subprocess.run(["ip", "link", "add", "sriov-e2e-dt", "type", "dummy"], capture_output=True).returncode
    if dummy_ok == 0:
        subprocess.run(["ip", "link", "del", "sriov-e2e-dt"], check=True)
        pytest.skip("this kernel has dummy links; the refusal path needs a kernel without them")
    _refused(state, "vfs", "create", "--pf", "bpf0", "--count", "2", "--backend", "dummy", rc=4,
             message="no dummy links")
    _refused(state, "vfs", "create", "--pf", "bpf0", "--count", "2", "--backend", "netdevsim", rc=4,
             message="VF backend netdevsim:")


def test_a_name_that_collides_with_an_existing_interface_is_refused(state: State) -> None:
    name = f"c{uuid.uuid4().hex[:5]}v1"  # the VF name the pool would need
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", f"{name}x"], check=True)
    try:
        _refused(state, "vfs", "create", "--pf", name[:-2], "--count", "4", "--backend", "veth", rc=2,
                 message=f"already in use in the node netns: {name}")
    finally:
        subprocess.run(["ip", "link", "del", name], check=True)


def test_a_second_pool_with_the_same_name_is_refused(state: State) -> None:
    pf = f"d{uuid.uuid4().hex[:5]}"
    cli(state, "vfs", "create", "--pf", pf, "--count", "2", "--backend", "veth")
    try:
        p = cli(state, "vfs", "create", "--pf", pf, "--count", "2", "--backend", "veth", check=False)
        assert p.returncode == 2 and "already exists" in p.stderr
    finally:
        cli(state, "vfs", "destroy", "--pf", pf)


def test_not_root_is_one_clear_error(state: State, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # as an unprivileged user sees it; nothing runs as one
    rc = main(["--state-dir", str(state.root), "vfs", "create", "--pf", "npf0", "--count", "2", "--backend", "veth"])
    assert (rc, capsys.readouterr().err.strip()) == (1, "sriov-e2e: error: fake VF pools need root (netlink and "
                                                        "mounts): run as root")
    assert not state.root.exists()
