"""Flow 7 — force delete (grace 0): the pod vanishes from the API at once; the node still runs CNI DEL and the VF
comes back."""

from __future__ import annotations

from sriov_e2e import checks
from sriov_e2e.cluster.backend import Backend
from sriov_e2e.k8s import Kube
from sriov_e2e.model import VFClass
from sriov_e2e.suite import Pods


def test_a_force_deleted_pod_gives_its_vf_back(
        backend: Backend, kube: Kube, pods: Pods, settled_pool: checks.PoolViews) -> None:
    pods.create("vf1", vfs=1)
    pods.wait_running("vf1")
    pci = pods.vf_pci_addresses("vf1")[0]
    pods.delete("vf1", grace=0)
    views = checks.wait_settled(backend, kube, in_use=0)
    vf = checks.vf_by_pci(views.pool, pci)
    assert (vf.netns, vf.admin_up, vf.vf_class) == (None, False, VFClass.IDLE), vf
