"""Flow 3 — multiple VFs: one pod with two VF attachments; one pod whose two containers each request one VF."""

from __future__ import annotations

from sriov_e2e import checks
from sriov_e2e.cluster.backend import Backend
from sriov_e2e.k8s import Kube
from sriov_e2e.model import VFClass
from sriov_e2e.suite import Pods


def test_a_pod_with_two_attachments_gets_two_distinct_vfs(
        backend: Backend, kube: Kube, pods: Pods, settled_pool: checks.PoolViews) -> None:
    pods.create("two", vfs=2)
    pods.wait_running("two")
    pcis = pods.vf_pci_addresses("two")
    ifaces = sorted(s["interface"] for s in pods.network_status("two") if "device-info" in s)
    assert len(set(pcis)) == 2 and ifaces == ["net1", "net2"], pods.network_status("two")
    views = checks.wait_settled(backend, kube, in_use=2)
    netns = {checks.vf_by_pci(views.pool, p).netns for p in pcis}
    assert len(netns) == 1 and None not in netns, f"both VFs must share the pod's netns, got {netns}"
    names = sorted(str(checks.vf_by_pci(views.pool, p).name) for p in pcis)
    assert names == ["net1", "net2"], names
    for p in pcis:
        vf = checks.vf_by_pci(views.pool, p)
        assert vf.vf_class is VFClass.IN_USE and vf.admin_up, vf
    assert views.assigned == set(pcis)


def test_two_containers_each_requesting_one_vf_are_both_accounted(
        backend: Backend, kube: Kube, pods: Pods, settled_pool: checks.PoolViews) -> None:
    pods.create("pair", containers=[1, 1])
    pods.wait_running("pair")
    env_key = "PCIDEVICE_" + backend.resource.upper().replace(".", "_").replace("/", "_")
    per_container = [pods.env("pair", c)[env_key] for c in ("c0", "c1")]
    assert len(set(per_container)) == 2, f"each container gets its own VF, got {per_container}"
    assignments = {a.container: a.device_ids for a in backend.pod_resources() if a.pod == "pair"}
    assert assignments == {"c0": (per_container[0],), "c1": (per_container[1],)}, assignments
    views = checks.wait_settled(backend, kube, in_use=2)
    assert views.requested == 2 and set(pods.vf_pci_addresses("pair")) == set(per_container)
