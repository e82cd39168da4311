"""Flow 6 — a container dies (as by the OOM killer or a segfault).

restartPolicy Always: the same pod restarts its container in the same sandbox: same UID, same VF, same PCI address.
restartPolicy Never: the pod ends Failed. What happens to the VF before the pod is deleted is asserted as this
stack was observed to behave (kubelet 1.34 stops a terminal pod's sandbox, so CNI DEL returns the VF and the
device is no longer counted), and after the delete the pool is whole.
"""

from __future__ import annotations

import signal

import pytest

from sriov_e2e import checks
from sriov_e2e.cluster.backend import Backend, Cap
from sriov_e2e.k8s import Kube
from sriov_e2e.suite import Pods
from sriov_e2e.timeouts import TIMEOUTS
from sriov_e2e.wait import NotYet, wait_until


def _restarts(kube: Kube, ns: str, name: str) -> int:
    pod = kube.pod(ns, name)
    statuses = (pod.status.container_statuses or []) if pod is not None and pod.status else []
    return sum(s.restart_count for s in statuses)


@pytest.mark.requires(Cap.KILL_CONTAINER)
def test_a_crashed_container_restarts_with_the_same_vf(
        backend: Backend, kube: Kube, pods: Pods, settled_pool: checks.PoolViews) -> None:
    pods.create("crash", vfs=1)
    uid = pods.wait_running("crash").metadata.uid
    pci = pods.vf_pci_addresses("crash")[0]
    backend.kill_container(pods.namespace, "crash", "c0", signal.SIGKILL)

    def restarted() -> None:
        n = _restarts(kube, pods.namespace, "crash")
        if n < 1:
            raise NotYet(f"restartCount {n}")
    wait_until(restarted, timeout=TIMEOUTS.pod_running, what=f"pod {pods.namespace}/crash")
    pod = pods.wait_running("crash")
    assert pod.metadata.uid == uid, "a restart must keep the pod, not replace it"
    env_key = "PCIDEVICE_" + backend.resource.upper().replace(".", "_").replace("/", "_")
    assert pods.env("crash")[env_key] == pci and pods.vf_pci_addresses("crash") == [pci]
    views = checks.wait_settled(backend, kube, in_use=1)
    assert views.assigned == {pci} and checks.vf_by_pci(views.pool, pci).name == "net1"


@pytest.mark.requires(Cap.KILL_CONTAINER)
def test_a_crashed_pod_that_never_restarts_returns_its_vf(
        backend: Backend, kube: Kube, pods: Pods, settled_pool: checks.PoolViews) -> None:
    pods.create("once", vfs=1, restart_policy="Never")
    pods.wait_running("once")
    pci = pods.vf_pci_addresses("once")[0]
    backend.kill_container(pods.namespace, "once", "c0", signal.SIGKILL)

    def failed() -> None:
        pod = kube.pod(pods.namespace, "once")
        phase = pod.status.phase if pod is not None and pod.status else None
        if phase != "Failed":
            raise NotYet(f"phase {phase}")
    wait_until(failed, timeout=TIMEOUTS.pod_running, what=f"pod {pods.namespace}/once")
    # observed contract: the terminal pod's sandbox is stopped, so its VF is back before the pod is deleted
    views = checks.wait_settled(backend, kube, in_use=0)
    assert checks.vf_by_pci(views.pool, pci).netns is None
    pods.delete("once")
    checks.wait_settled(backend, kube, in_use=0)


@pytest.mark.requires(Cap.KILL_CONTAINER)
def test_a_killed_sandbox_is_recreated_and_the_pod_gets_a_vf_again(
        backend: Backend, kube: Kube, pods: Pods, settled_pool: checks.PoolViews) -> None:
    pods.create("sandbox", vfs=1)
    uid = pods.wait_running("sandbox").metadata.uid
    backend.kill_sandbox(pods.namespace, "sandbox")

    def new_sandbox() -> None:
        events = kube.events_for(pods.namespace, "sandbox")
        if not any("SandboxChanged" in e for e in events):
            raise NotYet(f"events {events[-3:]}")
    wait_until(new_sandbox, timeout=TIMEOUTS.pod_running, what=f"pod {pods.namespace}/sandbox")
    pod = pods.wait_running("sandbox")
    assert pod.metadata.uid == uid
    # the old sandbox's CNI DEL returned its VF; the new sandbox's ADD attached one: still exactly one in use
    views = checks.wait_settled(backend, kube, in_use=1)
    assert views.assigned == set(pods.vf_pci_addresses("sandbox"))
