"""The VF model: what a node's SR-IOV pools look like, typed and immutable.

The same model is filled from live netlink + sysfs (this host) or from captured `ip -j -d link` output (a remote
node), so checks and reports never care where the data came from.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class VFClass(enum.StrEnum):
    """Where a VF stands, as a leak check sees it."""

    IDLE = "idle"  # on the node's host netns, admin down: free for the next pod
    IN_USE = "in-use"  # in a netns that a live process (a pod sandbox) holds
    LEAKED = "leaked"  # up on the host with no owner, or in a netns no live process holds
    MISSING = "missing"  # a PCI function whose netdev is nowhere to be found


class LocatorKind(enum.StrEnum):
    """How to find a VF's netdev, whatever its current name and netns."""

    PEER = "peer"  # veth VF: its peer end stays on the PF side under a fixed name
    PARENT = "parent"  # real VF: the netdev's parent device is the VF's PCI address
    MAC = "mac"  # dummy VF: the permanent MAC the backend gave it


@dataclass(frozen=True)
class Locator:
    kind: LocatorKind
    value: str


@dataclass(frozen=True)
class VFConfig:
    """A VF's configuration as the PF reports it (IFLA_VF_INFO); None where the PF does not say."""

    mac: str | None = None
    vlan: int = 0
    qos: int = 0
    spoofchk: bool | None = None
    trust: bool | None = None
    link_state: str | None = None  # auto | enable | disable
    min_tx_rate: int | None = None
    max_tx_rate: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "mac": self.mac,
            "vlan": self.vlan,
            "qos": self.qos,
            "spoofchk": self.spoofchk,
            "trust": self.trust,
            "link_state": self.link_state,
            "min_tx_rate": self.min_tx_rate,
            "max_tx_rate": self.max_tx_rate,
        }


@dataclass(frozen=True)
class VFSpec:
    """What a VF is, independent of where it is now."""

    index: int
    pci_address: str
    host_name: str  # its netdev name on the host when idle
    locator: Locator


@dataclass(frozen=True)
class PoolSpec:
    """A PF and its VFs as declared by a VF backend (or discovered from real sysfs), plus the pool they form."""

    pf_name: str
    pf_pci_address: str
    backend: str  # veth | dummy | netdevsim | hardware
    resource: str  # e.g. openshift.io/mellanoxnics
    totalvfs: int
    vfs: tuple[VFSpec, ...]
    selector: Mapping[str, Any] = field(default_factory=dict)
    node_netns: str | None = None  # None: the host netns of the inspecting process


@dataclass(frozen=True)
class VF:
    """A VF's observed state."""

    index: int
    pci_address: str
    host_name: str
    name: str | None  # current netdev name, None when missing
    netns: str | None  # None: on the node's host netns
    netns_holders: tuple[int, ...]
    admin_up: bool | None
    oper_state: str | None
    carrier: bool | None
    mac: str | None
    mtu: int | None
    config: VFConfig | None  # None when the PF cannot report VF config (veth/dummy PFs)
    vf_class: VFClass

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "pci_address": self.pci_address,
            "host_name": self.host_name,
            "name": self.name,
            "netns": self.netns,
            "netns_holders": list(self.netns_holders),
            "admin_up": self.admin_up,
            "oper_state": self.oper_state,
            "carrier": self.carrier,
            "mac": self.mac,
            "mtu": self.mtu,
            "class": self.vf_class.value,
            "config": self.config.as_dict() if self.config is not None else None,
        }


@dataclass(frozen=True)
class PF:
    """A PF's observed state."""

    name: str
    pci_address: str
    numvfs: int
    totalvfs: int
    present: bool
    admin_up: bool | None
    oper_state: str | None
    carrier: bool | None


@dataclass(frozen=True)
class Pool:
    """A resource pool: one PF's VFs as a device plugin would offer them, with their observed state."""

    resource: str
    backend: str
    selector: Mapping[str, Any]
    pf: PF
    vfs: tuple[VF, ...]

    def count(self, cls: VFClass) -> int:
        return sum(1 for vf in self.vfs if vf.vf_class is cls)

    @property
    def total(self) -> int:
        return len(self.vfs)

    @property
    def in_use(self) -> int:
        return self.count(VFClass.IN_USE)

    @property
    def available(self) -> int:
        return self.count(VFClass.IDLE)

    @property
    def leaked(self) -> int:
        return self.count(VFClass.LEAKED)

    @property
    def missing(self) -> int:
        return self.count(VFClass.MISSING)

    @property
    def utilization_pct(self) -> float:
        """Share of the pool held by pods (in use / total); leaked and missing VFs are alerted on separately."""
        return 0.0 if self.total == 0 else 100.0 * self.in_use / self.total

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.pf.name,
            "pci_address": self.pf.pci_address,
            "backend": self.backend,
            "resource": self.resource,
            "selector": dict(self.selector),
            "pf_present": self.pf.present,
            "pf_admin_up": self.pf.admin_up,
            "pf_oper_state": self.pf.oper_state,
            "numvfs": self.pf.numvfs,
            "totalvfs": self.pf.totalvfs,
            "total": self.total,
            "in_use": self.in_use,
            "available": self.available,
            "leaked": self.leaked,
            "missing": self.missing,
            "utilization_pct": round(self.utilization_pct, 1),
            "vfs": [vf.as_dict() for vf in self.vfs],
        }


def classify(*, located: bool, on_node: bool, admin_up: bool | None, holders: int) -> VFClass:
    """Class of a VF from where it is and who holds it (the leak rules, in one place)."""
    if not located:
        return VFClass.MISSING
    if on_node:
        return VFClass.LEAKED if admin_up else VFClass.IDLE
    return VFClass.IN_USE if holders > 0 else VFClass.LEAKED
