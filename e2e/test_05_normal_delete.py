"""Flow 5 — normal delete: the VF goes back to the host under its original name, down, the IP and pool return."""

from __future__ import annotations

import time

from sriov_e2e import checks
from sriov_e2e.cluster.backend import Backend
from sriov_e2e.k8s import Kube
from sriov_e2e.model import VFClass
from sriov_e2e.suite import Pods

NETWORK = "sriov-net"  # the NAD's network name, host-local's reservation dir
RETURN_BOUND = 30.0  # seconds from the delete call to VF back + pool settled (the grace period is 5 s)


def test_deleting_a_pod_returns_its_vf_down_under_its_original_name(
        backend: Backend, kube: Kube, pods: Pods, settled_pool: checks.PoolViews) -> None:
    pods.create("vf1", vfs=1)
    pods.wait_running("vf1")
    pci = pods.vf_pci_addresses("vf1")[0]
    ip = pods.addresses("vf1", "net1")[0]
    assert ip.split("/")[0] in backend.ipam_reserved(NETWORK)  # the check below can fail
    before = checks.vf_by_pci(settled_pool.pool, pci)

    start = time.monotonic()
    pods.delete("vf1")
    views = checks.wait_settled(backend, kube, in_use=0, timeout=RETURN_BOUND)
    took = time.monotonic() - start
    vf = checks.vf_by_pci(views.pool, pci)
    assert (vf.netns, vf.name, vf.admin_up, vf.vf_class) == (None, before.host_name, False, VFClass.IDLE), vf
    assert (vf.mtu, vf.config) == (before.mtu, before.config), "VF config not restored to its pre-ADD state"
    assert took <= RETURN_BOUND, f"VF {pci} back after {took:.1f}s, bound {RETURN_BOUND}s"

    reserved = backend.ipam_reserved(NETWORK)
    assert ip.split("/")[0] not in reserved, f"host-local still reserves {ip} for {NETWORK}: {sorted(reserved)}"
