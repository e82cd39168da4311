"""Flow 13 — PF link down: the VF inside the pod shows NO-CARRIER; link up restores the carrier."""

from __future__ import annotations

import pytest

from sriov_e2e import checks
from sriov_e2e.cluster.backend import Backend, Cap
from sriov_e2e.k8s import Kube
from sriov_e2e.suite import Pods
from sriov_e2e.timeouts import TIMEOUTS
from sriov_e2e.wait import NotYet, wait_until


@pytest.mark.disruptive
@pytest.mark.requires(Cap.PF_LINK)
def test_pf_link_down_shows_no_carrier_inside_the_pod(
        backend: Backend, kube: Kube, pods: Pods, settled_pool: checks.PoolViews) -> None:
    pods.create("link", vfs=1)
    pods.wait_running("link")

    def carrier(want: bool) -> None:
        flags = pods.exec("link", "c0", "ip", "link", "show", "net1")
        if ("NO-CARRIER" in flags) == want:
            raise NotYet(f"net1 in the pod: {flags.strip().splitlines()[0]}")

    wait_until(lambda: carrier(True), timeout=TIMEOUTS.vf_state, what="net1 in pod link")
    try:
        backend.set_pf_link(False)
        wait_until(lambda: carrier(False), timeout=TIMEOUTS.vf_state, what="net1 in pod link after PF down")
    finally:
        backend.set_pf_link(True)
    wait_until(lambda: carrier(True), timeout=TIMEOUTS.vf_state, what="net1 in pod link after PF up")
    checks.wait_settled(backend, kube, in_use=1)
