"""Flow 4 — exhaustion: a request beyond the pool stays Pending (Insufficient <resource>) until a VF frees."""

from __future__ import annotations

from sriov_e2e import checks
from sriov_e2e.cluster.backend import Backend
from sriov_e2e.k8s import Kube
from sriov_e2e.suite import Pods
from sriov_e2e.timeouts import TIMEOUTS
from sriov_e2e.wait import NotYet, wait_until


def test_a_pod_beyond_the_pool_is_pending_until_a_vf_frees(
        backend: Backend, kube: Kube, pods: Pods, settled_pool: checks.PoolViews) -> None:
    n = backend.vf_count
    for i in range(n):
        pods.create(f"hold{i}", vfs=1)
    for i in range(n):
        pods.wait_running(f"hold{i}")
    checks.wait_settled(backend, kube, in_use=n)

    pods.create("extra", vfs=1)

    def unschedulable() -> None:
        events = kube.events_for(pods.namespace, "extra")
        if not any("FailedScheduling" in e and f"Insufficient {backend.resource}" in e for e in events):
            raise NotYet(f"events {events}")
    wait_until(unschedulable, timeout=TIMEOUTS.pod_running, what=f"pod {pods.namespace}/extra")
    pod = kube.pod(pods.namespace, "extra")
    assert pod is not None and pod.status is not None and pod.status.phase == "Pending"
    checks.wait_settled(backend, kube, in_use=n)  # the pending pod holds nothing

    pods.delete("hold0")
    pods.wait_running("extra")
    checks.wait_settled(backend, kube, in_use=n)
