"""The one interface every cluster backend offers the suites: where the cluster is, what the node can do.

Suites talk to this and to sriov_e2e.checks only, so `local`, `kind` and `existing` run the same files.
"""

from __future__ import annotations

import enum
import signal
from pathlib import Path
from typing import Protocol

from sriov_e2e.k8s import Kube
from sriov_e2e.model import Pool
from sriov_e2e.podresources import Assignment


class Cap(enum.StrEnum):
    """Things a backend may or may not be able to do; a flow needing a missing one is skipped with the reason."""

    VF_CONFIG = "vf-config"  # the PF reports VF config (trust, spoofchk, vlan, mac, rate)
    PF_LINK = "pf-link"  # the harness can take the PF's link down and up
    REBOOT = "reboot"  # the harness can power-cycle the node
    CNI_FAULTS = "cni-faults"  # the harness can make the next CNI DEL fail
    NODE_RESTARTS = "node-restarts"  # the harness can restart kubelet, containerd and the device plugin
    KILL_CONTAINER = "kill-container"  # the harness can signal a container's process from the node


class Backend(Protocol):
    name: str
    kubeconfig: Path
    node_name: str
    resource: str
    nad: str  # "namespace/name" of the VF network attachment
    vf_count: int
    vf_subnet: str  # the IPAM range of the VF attachment
    vf_config_nad: str | None  # an attachment asking for vlan 100, spoofchk off, trust on (Cap.VF_CONFIG only)

    def capabilities(self) -> dict[Cap, str | None]:
        """Each capability mapped to None when available, else to the reason it is not."""

    def kube(self) -> Kube:
        """A client for the cluster's API (the caller closes it)."""

    def pool(self) -> Pool:
        """The node's VF pool as it is now (inventory: where each VF is, its state and class)."""

    def pod_resources(self) -> list[Assignment]:
        """kubelet's pod-resources List on the node."""

    def ipam_reserved(self, network: str) -> set[str]:
        """IPs host-local holds reserved for `network` on the node."""

    def restart_kubelet(self) -> None: ...

    def restart_containerd(self) -> None: ...

    def restart_sriovdp(self) -> None: ...

    def reboot_node(self) -> None: ...

    def kill_sandbox(self, namespace: str, pod: str) -> None: ...

    def kill_container(self, namespace: str, pod: str, container: str, sig: signal.Signals) -> None: ...

    def fail_cni_del(self, fail: bool) -> None: ...

    def set_pf_link(self, up: bool) -> None: ...

    def diagnostics(self) -> dict[str, str]:
        """Named text blobs worth attaching to a failure report (logs, `ip -d link` per netns, ...)."""
