"""Pulling the fake PF's cable: a VF in a pod loses carrier, as on hardware; plugging it back restores it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from clihelp import cli

from sriov_e2e import inventory
from sriov_e2e.pytest_plugin import PodNetns
from sriov_e2e.state import PoolRecord, State
from sriov_e2e.timeouts import TIMEOUTS
from sriov_e2e.wait import NotYet, wait_until

pytestmark = [pytest.mark.integration]


def test_pf_link_down_means_no_carrier_in_the_pod(
    state: State, make_pool: Callable[..., PoolRecord], pod_netns: Callable[[], PodNetns]
) -> None:
    rec = make_pool(2)
    pf = rec.spec.pf_name
    pod = pod_netns()
    subprocess.run(["ip", "link", "set", f"{pf}v0", "netns", pod.name], check=True)
    subprocess.run(["ip", "-n", pod.name, "link", "set", f"{pf}v0", "name", "net1", "up"], check=True)

    def carrier_is(want: bool) -> Callable[[], None]:
        def check() -> None:
            vf = inventory.build_pool(rec.spec, inventory.read_node()).vfs[0]
            if (vf.carrier, vf.admin_up) != (want, True):
                raise NotYet(f"net1 in {pod.name}: carrier {vf.carrier}, admin_up {vf.admin_up}; want carrier {want}")
        return check

    wait_until(carrier_is(True), timeout=TIMEOUTS.vf_state, what=f"VF 0 of {pf}")
    cli(state, "vfs", "pf-link", "--pf", pf, "--state", "down")
    wait_until(carrier_is(False), timeout=TIMEOUTS.vf_state, what=f"VF 0 of {pf} after PF link down")
    flags = subprocess.run(["ip", "-n", pod.name, "-o", "link", "show", "net1"], capture_output=True, text=True,
                           check=True).stdout
    assert "NO-CARRIER" in flags, flags
    cli(state, "vfs", "pf-link", "--pf", pf, "--state", "up")
    wait_until(carrier_is(True), timeout=TIMEOUTS.vf_state, what=f"VF 0 of {pf} after PF link up")
