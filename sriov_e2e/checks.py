"""Reusable checks: four views of a VF pool that must agree, VF state, inventory snapshots.

The views: node capacity/allocatable for the resource (what the device plugin advertises), the sum of requests of
the node's live pods (what the scheduler accounts), kubelet's pod-resources List (which pod holds which device),
and the inventory (where each VF netdev actually is). A settled node has them agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import allure
import grpc

from sriov_e2e.cluster.backend import Backend
from sriov_e2e.k8s import Kube
from sriov_e2e.model import VF, Pool, VFClass
from sriov_e2e.timeouts import TIMEOUTS
from sriov_e2e.wait import NotYet, wait_until


@dataclass(frozen=True)
class PoolViews:
    capacity: int
    allocatable: int
    requested: int
    assigned: frozenset[str]  # device IDs (VF PCI addresses) kubelet reports as assigned
    pool: Pool

    @property
    def in_netns(self) -> frozenset[str]:
        return frozenset(vf.pci_address for vf in self.pool.vfs if vf.vf_class is VFClass.IN_USE)

    def summary(self) -> str:
        p = self.pool
        return (f"capacity {self.capacity}, allocatable {self.allocatable}, requested {self.requested}, "
                f"pod-resources {len(self.assigned)} {sorted(self.assigned)}, VFs on node: in-use {p.in_use} "
                f"{sorted(self.in_netns)}, idle {p.available}, leaked {p.leaked}, missing {p.missing}")

    def disagreements(self, in_use: int, total: int | None = None) -> list[str]:
        """What is off, for a node settled with `in_use` VFs held by pods; empty when all four views agree.

        `total`: the pool size expected (default: the VFs the inventory knows)."""
        total = self.pool.total if total is None else total
        out = []
        if (self.capacity, self.allocatable) != (total, total):
            out.append(f"device plugin advertises capacity {self.capacity}/allocatable {self.allocatable}, "
                       f"want {total}")
        if self.requested != in_use:
            out.append(f"pods request {self.requested}, want {in_use}")
        if len(self.assigned) != in_use:
            out.append(f"kubelet assigns {len(self.assigned)} devices, want {in_use}")
        if self.pool.in_use != in_use or self.pool.available != total - in_use:
            out.append(f"{self.pool.in_use} VFs in pod netns and {self.pool.available} idle, want {in_use} and "
                       f"{total - in_use}")
        if self.pool.leaked or self.pool.missing:
            bad = [f"{vf.pci_address}={vf.vf_class.value}@{vf.netns or 'host'}" for vf in self.pool.vfs
                   if vf.vf_class in (VFClass.LEAKED, VFClass.MISSING)]
            out.append(f"leaked {self.pool.leaked}, missing {self.pool.missing}: {bad}")
        if self.assigned != self.in_netns:
            out.append(f"devices kubelet assigned {sorted(self.assigned)} != VFs in pod netns "
                       f"{sorted(self.in_netns)}")
        return out


def holders(backend: Backend) -> dict[str, str]:
    """Device ID -> pod that kubelet's pod-resources says holds it (for the backend's resource)."""
    try:
        listed = backend.pod_resources()
    except grpc.RpcError as e:  # kubelet restarting: its socket refuses for a moment
        raise NotYet(f"kubelet pod-resources unavailable: {e.code()}") from None
    return {d: a.pod for a in listed if a.resource == backend.resource for d in a.device_ids}


def views(backend: Backend, kube: Kube) -> PoolViews:
    counts = kube.resource_counts(backend.node_name, backend.resource)
    assigned = frozenset(holders(backend))
    return PoolViews(counts.capacity, counts.allocatable, kube.requested_on_node(backend.node_name, backend.resource),
                     assigned, backend.pool())


def wait_settled(backend: Backend, kube: Kube, in_use: int, timeout: float | None = None,
                 total: int | None = None) -> PoolViews:
    """Wait until the four views agree on `in_use` VFs held by pods; fail naming every view.

    `total`: the pool size to hold the node to (default: what the backend says its pool is)."""
    want_total = backend.vf_count if total is None else total

    def settled() -> PoolViews:
        v = views(backend, kube)
        off = v.disagreements(in_use, want_total)
        if off:
            raise NotYet("; ".join(off) + f" [{v.summary()}]")
        return v

    with allure.step(f"wait until the pool settles with {in_use} VF(s) in use (four views agree)"):
        result: PoolViews = wait_until(settled, timeout=timeout or TIMEOUTS.pool_advertised,
                                       what=f"pool {backend.resource} on node {backend.node_name}")
        allure.attach(result.summary(), name="pool views", attachment_type=allure.attachment_type.TEXT)
    return result


def vf_by_pci(pool: Pool, pci: str) -> VF:
    for vf in pool.vfs:
        if vf.pci_address == pci:
            return vf
    raise AssertionError(f"PCI {pci} is not a VF of PF {pool.pf.name} ({[v.pci_address for v in pool.vfs]})")


def host_snapshot(pool: Pool) -> tuple[tuple[object, ...], ...]:
    """What must be the same before and after a flow: each VF's name, place, admin state and class."""
    return tuple((vf.index, vf.pci_address, vf.name, vf.netns, vf.admin_up, vf.vf_class.value, vf.mtu, vf.config)
                 for vf in pool.vfs)


def snapshot_diff(before: Pool, after: Pool) -> list[str]:
    out = []
    for a, b in zip(host_snapshot(before), host_snapshot(after), strict=True):
        if a != b:
            out.append(f"VF {a[0]} ({a[1]}): before {a[2:]}, after {b[2:]}")
    return out
