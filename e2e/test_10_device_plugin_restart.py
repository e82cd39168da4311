"""Flow 10 — device plugin restart: it re-registers, the counts stay consistent, in-use VFs stay with their pods."""

from __future__ import annotations

import pytest

from sriov_e2e import checks
from sriov_e2e.cluster.backend import Backend, Cap
from sriov_e2e.k8s import Kube
from sriov_e2e.suite import Pods


@pytest.mark.disruptive
@pytest.mark.requires(Cap.NODE_RESTARTS)
def test_a_device_plugin_restart_keeps_the_pool_whole(
        backend: Backend, kube: Kube, pods: Pods, settled_pool: checks.PoolViews) -> None:
    pods.create("keep", vfs=1)
    pods.wait_running("keep")
    before = checks.wait_settled(backend, kube, in_use=1)
    backend.restart_sriovdp()
    after = checks.wait_settled(backend, kube, in_use=1)
    assert after.assigned == before.assigned and after.in_netns == before.in_netns
    pods.delete("keep")
    checks.wait_settled(backend, kube, in_use=0)
    # the freed VF can be allocated again: the restarted plugin still offers every VF
    pods.create("again", vfs=backend.vf_count)
    pods.wait_running("again")
    checks.wait_settled(backend, kube, in_use=backend.vf_count)
