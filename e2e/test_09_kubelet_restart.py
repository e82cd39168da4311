"""Flow 9 — kubelet restart (and its runtime's): running pods keep their VFs; the assignment and the counts come
back unchanged, and no container restarts."""

from __future__ import annotations

import pytest

from sriov_e2e import checks
from sriov_e2e.cluster.backend import Backend, Cap
from sriov_e2e.k8s import Kube
from sriov_e2e.suite import Pods


@pytest.mark.disruptive
@pytest.mark.requires(Cap.NODE_RESTARTS)
@pytest.mark.parametrize("component", ["kubelet", "containerd"])
def test_a_node_daemon_restart_keeps_running_pods_on_their_vfs(
        component: str, backend: Backend, kube: Kube, pods: Pods, settled_pool: checks.PoolViews) -> None:
    pods.create("keep", vfs=1)
    pod = pods.wait_running("keep")
    before = checks.wait_settled(backend, kube, in_use=1)
    restarts = sum(s.restart_count for s in pod.status.container_statuses)
    getattr(backend, f"restart_{component}")()
    after = checks.wait_settled(backend, kube, in_use=1)
    pod2 = pods.wait_running("keep")
    assert pod2.metadata.uid == pod.metadata.uid, f"{component} restart replaced the pod"
    assert sum(s.restart_count for s in pod2.status.container_statuses) == restarts, "containers restarted"
    assert after.assigned == before.assigned and after.in_netns == before.in_netns
