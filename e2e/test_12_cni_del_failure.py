"""Flow 12 — CNI DEL fails (fault injected): the VF is stuck in a dead netns, the leak check names it, and the
documented recovery (clear the fault; the runtime retries the sandbox's teardown) restores the pool."""

from __future__ import annotations

import pytest

from sriov_e2e import checks
from sriov_e2e.cluster.backend import Backend, Cap
from sriov_e2e.k8s import Kube
from sriov_e2e.model import VFClass
from sriov_e2e.suite import Pods
from sriov_e2e.timeouts import TIMEOUTS
from sriov_e2e.wait import NotYet, wait_until


@pytest.mark.disruptive
@pytest.mark.requires(Cap.CNI_FAULTS)
def test_a_failed_cni_del_leaks_the_vf_until_recovered(
        backend: Backend, kube: Kube, pods: Pods, settled_pool: checks.PoolViews) -> None:
    pods.create("stuck", vfs=1)
    pods.wait_running("stuck")
    pci = pods.vf_pci_addresses("stuck")[0]
    backend.fail_cni_del(True)
    try:
        kube.delete_pod(pods.namespace, "stuck")

        def leaked() -> checks.VF:
            vf = checks.vf_by_pci(backend.pool(), pci)
            if vf.vf_class is not VFClass.LEAKED:
                raise NotYet(f"VF {pci} is {vf.vf_class.value} in {vf.netns or 'host'}")
            return vf
        vf = wait_until(leaked, timeout=TIMEOUTS.pod_deleted, what=f"VF {pci} after a failed CNI DEL")
        assert vf.netns is not None and vf.netns_holders == (), f"stuck in a dead netns: {vf}"
        assert backend.pool().leaked == 1
    finally:
        backend.fail_cni_del(False)  # recovery step 1: the fault is gone
    pods.wait_gone("stuck")
    views = checks.wait_settled(backend, kube, in_use=0, timeout=TIMEOUTS.pod_deleted + TIMEOUTS.pool_advertised)
    assert checks.vf_by_pci(views.pool, pci).vf_class is VFClass.IDLE
