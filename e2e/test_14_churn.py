"""Flow 14 — churn: pods with VFs created and deleted in a loop leave no leak and no count drift."""

from __future__ import annotations

import pytest

from sriov_e2e import checks
from sriov_e2e.cluster.backend import Backend
from sriov_e2e.k8s import Kube
from sriov_e2e.suite import Pods


def test_churn_leaves_no_leak_and_no_drift(backend: Backend, kube: Kube, pods: Pods,
                                           settled_pool: checks.PoolViews, request: pytest.FixtureRequest) -> None:
    rounds = int(request.config.getoption("--sriov-churn"))
    reserved = backend.ipam_reserved("sriov-net")
    width = min(2, backend.vf_count)
    for r in range(rounds):
        names = [f"churn-{r}-{i}" for i in range(width)]
        for n in names:
            pods.create(n, vfs=1)
        for n in names:
            pods.wait_running(n)
        checks.wait_settled(backend, kube, in_use=width)
        for n in names:
            pods.delete(n, wait=False)
        for n in names:
            pods.wait_gone(n)
        checks.wait_settled(backend, kube, in_use=0)
    assert backend.ipam_reserved("sriov-net") == reserved, "host-local holds IPs the churned pods took"
