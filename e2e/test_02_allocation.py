"""Flow 2 — allocation: a pod asking for one VF gets it by PCI address, in its netns, renamed, up, with an IP."""

from __future__ import annotations

import ipaddress
import json

import allure
import pytest

from sriov_e2e import checks
from sriov_e2e.cluster.backend import Backend, Cap
from sriov_e2e.k8s import Kube
from sriov_e2e.model import VFClass
from sriov_e2e.suite import Pods


def _env_key(resource: str) -> str:
    return "PCIDEVICE_" + resource.upper().replace(".", "_").replace("/", "_")


def test_a_pod_gets_one_vf_in_its_netns_as_net1_up_with_an_ip(
        backend: Backend, kube: Kube, pods: Pods, settled_pool: checks.PoolViews) -> None:
    with allure.step("create a pod requesting one VF"):
        pods.create("vf1", vfs=1)
        pods.wait_running("vf1")
    with allure.step("device plugin: env carries the VF's PCI address"):
        pci = pods.env("vf1")[_env_key(backend.resource)]
        assert pci in {vf.pci_address for vf in settled_pool.pool.vfs}, pci
    with allure.step("Multus: network-status names the same VF"):
        status = pods.network_status("vf1")
        vf_status = [s for s in status if "device-info" in s]
        assert len(vf_status) == 1 and vf_status[0]["interface"] == "net1", json.dumps(status)
        assert vf_status[0]["device-info"]["pci"]["pci-address"] == pci
    with allure.step("the VF is in the pod's netns as net1, up, with an IP from the NAD's range"):
        views = checks.wait_settled(backend, kube, in_use=1)
        vf = checks.vf_by_pci(views.pool, pci)
        assert (vf.name, vf.admin_up, vf.vf_class) == ("net1", True, VFClass.IN_USE), vf
        assert vf.netns is not None
        ips = pods.addresses("vf1", "net1")
        assert ips and ipaddress.ip_interface(ips[0]).ip in ipaddress.ip_network(backend.vf_subnet), ips
        assert vf_status[0]["ips"] == [str(ipaddress.ip_interface(ips[0]).ip)]
    with allure.step("pool accounting: requested 1, kubelet assigned exactly this VF"):
        assert views.requested == 1 and views.assigned == {pci}
    pods.delete("vf1")


# what the VF-config attachment asks for (Backend.vf_config_nad), as the PF must report it while the pod runs
WANT_VLAN, WANT_SPOOFCHK, WANT_TRUST = 100, False, True


@pytest.mark.requires(Cap.VF_CONFIG)
def test_the_pf_reports_the_vf_config_the_attachment_asked_for(
        backend: Backend, kube: Kube, pods: Pods, settled_pool: checks.PoolViews) -> None:
    assert backend.vf_config_nad, "a backend with VF config must name its VF-config attachment"
    pods.create("cfg", vfs=1, networks=[backend.vf_config_nad])
    pods.wait_running("cfg")
    pci = pods.vf_pci_addresses("cfg")[0]
    vf = checks.vf_by_pci(checks.wait_settled(backend, kube, in_use=1).pool, pci)
    assert vf.config is not None, f"PF reports no config for VF {pci}"
    assert (vf.config.vlan, vf.config.spoofchk, vf.config.trust) == (WANT_VLAN, WANT_SPOOFCHK, WANT_TRUST), vf
