"""Flow 11 — node reboot: VFs are recreated, all down; the pool is restored; a Deployment's pod comes back with a VF."""

from __future__ import annotations

import pytest

from sriov_e2e import checks
from sriov_e2e.cluster.backend import Backend, Cap
from sriov_e2e.k8s import Kube
from sriov_e2e.suite import LABEL, Pods, vf_pod
from sriov_e2e.timeouts import TIMEOUTS
from sriov_e2e.wait import NotYet, wait_until


@pytest.mark.disruptive
@pytest.mark.slow
@pytest.mark.requires(Cap.REBOOT)
def test_after_a_reboot_the_pool_is_whole_and_the_deployment_pod_has_a_vf_again(
        backend: Backend, kube: Kube, pods: Pods, settled_pool: checks.PoolViews) -> None:
    template = vf_pod("x", networks=[backend.nad], vfs_per_container=[1], resource=backend.resource)
    labels = {**LABEL, "app": "vf-deploy"}
    kube.kubectl_apply({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "vf-deploy", "namespace": pods.namespace},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels, "annotations": template["metadata"]["annotations"]},
                              "spec": template["spec"]}}})

    def one_running() -> str:
        running = [p for p in kube.core.list_namespaced_pod(pods.namespace, label_selector="app=vf-deploy").items
                   if p.status and p.status.phase == "Running" and p.metadata.deletion_timestamp is None]
        if len(running) != 1:
            raise NotYet(f"{len(running)} running pods of deployment vf-deploy")
        return str(running[0].metadata.name)

    first = wait_until(one_running, timeout=TIMEOUTS.pod_running, what="deployment vf-deploy")
    checks.wait_settled(backend, kube, in_use=1)
    backend.reboot_node()
    # right after boot every VF was recreated down on the host; then the deployment's pod takes one again
    second = wait_until(one_running, timeout=TIMEOUTS.node_ready + TIMEOUTS.pod_running,
                        what="deployment vf-deploy after reboot")
    views = checks.wait_settled(backend, kube, in_use=1, timeout=TIMEOUTS.node_ready)
    assert len(pods.vf_pci_addresses(second)) == 1, pods.network_status(second)
    assert views.assigned == set(pods.vf_pci_addresses(second))
    if second == first:  # same pod object: kubelet restarted its sandbox with a fresh VF attachment
        assert pods.vf_pci_addresses(first)
    kube.kubectl("delete", "deployment", "vf-deploy", "-n", pods.namespace, "--wait=true")
