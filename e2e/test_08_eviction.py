"""Flow 8 — eviction through the API (what a drain does): the VF is returned."""

from __future__ import annotations

from sriov_e2e import checks
from sriov_e2e.cluster.backend import Backend
from sriov_e2e.k8s import Kube
from sriov_e2e.suite import Pods


def test_an_evicted_pod_gives_its_vf_back(
        backend: Backend, kube: Kube, pods: Pods, settled_pool: checks.PoolViews) -> None:
    pods.create("vf1", vfs=1)
    pods.wait_running("vf1")
    checks.wait_settled(backend, kube, in_use=1)
    kube.evict(pods.namespace, "vf1")
    pods.wait_gone("vf1")
    checks.wait_settled(backend, kube, in_use=0)
