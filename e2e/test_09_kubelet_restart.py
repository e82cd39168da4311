"""Flow 9 — kubelet restart: running pods keep their VFs; the assignment and the counts come back unchanged."""

from __future__ import annotations

import pytest

from sriov_e2e import checks
from sriov_e2e.cluster.backend import Backend, Cap
from sriov_e2e.k8s import Kube
from sriov_e2e.suite import Pods


@pytest.mark.disruptive
@pytest.mark.requires(Cap.NODE_RESTARTS)
def test_a_kubelet_restart_keeps_running_pods_on_their_vfs(
        backend: Backend, kube: Kube, pods: Pods, settled_pool: checks.PoolViews) -> None:
    pods.create("keep", vfs=1)
    pod = pods.wait_running("keep")
    before = checks.wait_settled(backend, kube, in_use=1)
    restarts = sum(s.restart_count for s in pod.status.container_statuses)
    backend.restart_kubelet()
    after = checks.wait_settled(backend, kube, in_use=1)
    pod2 = pods.wait_running("keep")
    assert pod2.metadata.uid == pod.metadata.uid, "kubelet restart replaced the pod"
    assert sum(s.restart_count for s in pod2.status.container_statuses) == restarts, "containers restarted"
    assert after.assigned == before.assigned and after.in_netns == before.in_netns


@pytest.mark.disruptive
@pytest.mark.requires(Cap.NODE_RESTARTS)
def test_a_containerd_restart_keeps_running_pods_on_their_vfs(
        backend: Backend, kube: Kube, pods: Pods, settled_pool: checks.PoolViews) -> None:
    pods.create("keep", vfs=1)
    pod = pods.wait_running("keep")
    before = checks.wait_settled(backend, kube, in_use=1)
    backend.restart_containerd()
    after = checks.wait_settled(backend, kube, in_use=1)
    pod2 = pods.wait_running("keep")
    assert pod2.metadata.uid == pod.metadata.uid
    assert after.assigned == before.assigned and after.in_netns == before.in_netns
