"""Flow 11 — node reboot: VFs are recreated, all down; the pool is restored; a Deployment's pod comes back with a VF.

Two outcomes are correct, and which one happens depends on whether the device plugin re-registers before kubelet
re-admits the pod: the same pod restarts its sandbox with a VF, or kubelet rejects it (UnexpectedAdmissionError,
"no healthy devices", the kubernetes#118559 family) and the Deployment replaces it. A bare pod in the second case
would stay Failed; that is why the flow uses a Deployment. Anything else fails.
"""

from __future__ import annotations

import pytest

from sriov_e2e import checks
from sriov_e2e.cluster.backend import Backend, Cap
from sriov_e2e.k8s import Kube
from sriov_e2e.suite import LABEL, Pods, vf_pod
from sriov_e2e.timeouts import TIMEOUTS
from sriov_e2e.wait import NotYet, wait_until

APP = "vf-deploy"


def _deployment(backend: Backend, namespace: str) -> dict[str, object]:
    template = vf_pod("x", networks=[backend.nad], vfs_per_container=[1], resource=backend.resource)
    labels = {**LABEL, "app": APP}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": APP, "namespace": namespace},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels, "annotations": template["metadata"]["annotations"]},
                                  "spec": template["spec"]}}}


def _holder(backend: Backend, kube: Kube, pods: Pods) -> tuple[str, checks.PoolViews]:
    """The one pod kubelet says holds a VF, Running, its network-status naming that same VF."""
    views = checks.views(backend, kube)
    off = views.disagreements(1)
    if off:
        raise NotYet("; ".join(off))
    holders = set(checks.holders(backend).values())
    if len(holders) != 1:
        raise NotYet(f"pods holding a VF per kubelet: {sorted(holders)}")
    name = holders.pop()
    pod = kube.pod(pods.namespace, name)
    phase = pod.status.phase if pod is not None and pod.status else None
    if phase != "Running":
        raise NotYet(f"pod {name} holding {sorted(views.assigned)} is {phase}")
    attached = set(pods.vf_pci_addresses(name))
    if attached != views.assigned:
        raise NotYet(f"pod {name}: network-status names {sorted(attached)}, kubelet assigned {sorted(views.assigned)}")
    return name, views


@pytest.mark.disruptive
@pytest.mark.slow
@pytest.mark.requires(Cap.REBOOT)
def test_after_a_reboot_the_pool_is_whole_and_the_deployment_pod_has_a_vf_again(
        backend: Backend, kube: Kube, pods: Pods, settled_pool: checks.PoolViews) -> None:
    kube.kubectl_apply(_deployment(backend, pods.namespace))
    first, _ = wait_until(lambda: _holder(backend, kube, pods), timeout=TIMEOUTS.pod_running,
                          what=f"deployment {APP}")
    first_uid = kube.pod(pods.namespace, first).metadata.uid

    backend.reboot_node()
    second, _ = wait_until(lambda: _holder(backend, kube, pods), timeout=TIMEOUTS.node_ready + TIMEOUTS.pod_running,
                           what=f"deployment {APP} after reboot")

    old = kube.pod(pods.namespace, first)
    if second == first:
        assert old is not None and old.metadata.uid == first_uid  # outcome 1: same pod, new sandbox, a VF
    else:  # outcome 2: kubelet rejected the old pod at re-admission; it must not hold anything
        assert old is None or (old.status.phase, old.status.reason) == ("Failed", "UnexpectedAdmissionError"), (
            f"old pod {first}: {old.status.phase if old else None} {old.status.reason if old else ''}")
    running = [p.metadata.name for p in kube.core.list_namespaced_pod(pods.namespace, label_selector=f"app={APP}").items
               if p.status and p.status.phase == "Running"]
    assert running == [second], f"exactly one running pod of {APP}, got {running}"
    kube.kubectl("delete", "deployment", APP, "-n", pods.namespace, "--wait=true")
