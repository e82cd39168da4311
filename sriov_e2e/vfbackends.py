"""Fake VF backends: a named PF with N VF netdevs inside a node's netns, and exactly that removed again.

Only the hardware is faked. `veth` works on any kernel: the PF is a bridge (the NIC's embedded switch) and each VF
is a veth end whose peer hangs off that bridge, so VFs in different pods share L2 and "PF link down" takes the
peers down, which the pod sees as NO-CARRIER, as on hardware. `dummy` needs CONFIG_DUMMY; `netdevsim` (a PF with
real VF config) is probed but not yet provided by this harness (see README).
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
from dataclasses import dataclass
from typing import Any, Protocol

from pyroute2.netlink.exceptions import NetlinkError

from sriov_e2e import netlink
from sriov_e2e.errors import BadInput, HarnessError, Unsupported
from sriov_e2e.model import Locator, LocatorKind
from sriov_e2e.state import PREFIX
from sriov_e2e.undo import UndoStack

IFNAMSIZ = 15


@dataclass(frozen=True)
class CreatedVF:
    index: int
    host_name: str
    locator: Locator


@dataclass(frozen=True)
class Created:
    owned_links: tuple[str, ...]  # node-side links to delete on destroy (deleting a veth end removes its peer too)
    vfs: tuple[CreatedVF, ...]


class VFBackend(Protocol):
    name: str
    max_vfs: int

    def unavailable_reason(self, node_netns: str) -> str | None:
        """None when this backend works on this host, else why not."""

    def create(self, ipr: Any, pf: str, count: int, undo: UndoStack) -> Created:
        """Create PF `pf` and `count` VFs in the netns of `ipr`, each registered on `undo` as soon as it exists."""

    def set_pf_link(self, ipr: Any, pf: str, owned: tuple[str, ...], up: bool) -> None:
        """Simulate the PF's cable: down makes every VF lose carrier, wherever it is."""


def vf_name(pf: str, i: int) -> str:
    return f"{pf}v{i}"


def peer_name(pf: str, i: int) -> str:
    return f"{pf}p{i}"


def owner_alias(pf: str, what: str) -> str:
    return f"{PREFIX}:{pf}:{what}"


def check_names(ipr: Any, pf: str, count: int, extra_per_vf: bool) -> None:
    """Refuse names that are too long or already taken before anything is created."""
    longest = vf_name(pf, count - 1)
    if not pf or len(longest) > IFNAMSIZ or "/" in pf or " " in pf:
        raise BadInput(f"PF name {pf!r}: VF names such as {longest!r} must fit {IFNAMSIZ} characters")
    wanted = [pf] + [vf_name(pf, i) for i in range(count)]
    if extra_per_vf:
        wanted += [peer_name(pf, i) for i in range(count)]
    taken = [n for n in wanted if ipr.link_lookup(ifname=n)]
    if taken:
        raise BadInput(f"PF {pf}: interface name(s) already in use in the node netns: {', '.join(taken[:5])}")


def _mark(ipr: Any, name: str, alias: str) -> None:
    ipr.link("set", index=netlink.index_of(ipr, name), ifalias=alias)


def _create_bridge_pf(ipr: Any, pf: str, undo: UndoStack) -> None:
    ipr.link("add", ifname=pf, kind="bridge")
    undo.push(f"delete PF bridge {pf}", lambda: netlink.delete_link(ipr, pf))
    _mark(ipr, pf, owner_alias(pf, "pf"))
    netlink.set_state(ipr, pf, True)


class VethBackend:
    name = "veth"
    max_vfs = 128

    def unavailable_reason(self, node_netns: str) -> str | None:
        return None  # probed for real by probe.py; veth is in every kernel that has netns

    def create(self, ipr: Any, pf: str, count: int, undo: UndoStack) -> Created:
        check_names(ipr, pf, count, extra_per_vf=True)
        _create_bridge_pf(ipr, pf, undo)
        pf_index = netlink.index_of(ipr, pf)
        vfs = []
        for i in range(count):
            vf, peer = vf_name(pf, i), peer_name(pf, i)
            ipr.link("add", ifname=vf, kind="veth", peer={"ifname": peer})
            undo.push(f"delete VF {vf}", functools.partial(netlink.delete_link, ipr, peer))
            _mark(ipr, peer, owner_alias(pf, f"vf{i}"))
            # the peer is the VF's port on the embedded switch: up and enslaved; the VF itself stays down (idle)
            ipr.link("set", index=netlink.index_of(ipr, peer), master=pf_index, state="up")
            vfs.append(CreatedVF(i, vf, Locator(LocatorKind.PEER, peer)))
        return Created(owned_links=(*(peer_name(pf, i) for i in range(count)), pf), vfs=tuple(vfs))

    def set_pf_link(self, ipr: Any, pf: str, owned: tuple[str, ...], up: bool) -> None:
        ports = [n for n in owned if n != pf]
        if up:
            netlink.set_state(ipr, pf, True)
        for p in ports:
            netlink.set_state(ipr, p, up)
        if not up:
            netlink.set_state(ipr, pf, False)


def _dummy_mac(pf: str, i: int) -> str:
    h = hashlib.sha256(pf.encode()).digest()
    return f"02:5e:{h[0]:02x}:{h[1]:02x}:{i >> 8:02x}:{i & 0xFF:02x}"


class DummyBackend:
    name = "dummy"
    max_vfs = 128

    def unavailable_reason(self, node_netns: str) -> str | None:
        # the driver shows up in /sys/module whether built in (it has a parameter) or loaded
        if not os.path.exists("/sys/module/dummy"):
            return "this kernel has no dummy links (CONFIG_DUMMY not set)"
        return None

    def create(self, ipr: Any, pf: str, count: int, undo: UndoStack) -> Created:
        check_names(ipr, pf, count, extra_per_vf=False)
        _create_bridge_pf(ipr, pf, undo)
        vfs = []
        for i in range(count):
            vf, mac = vf_name(pf, i), _dummy_mac(pf, i)
            try:
                ipr.link("add", ifname=vf, kind="dummy", address=mac)
            except NetlinkError as e:
                if e.code == errno.EOPNOTSUPP:
                    raise Unsupported("dummy backend: this kernel has no dummy links (CONFIG_DUMMY)") from None
                raise
            undo.push(f"delete VF {vf}", functools.partial(netlink.delete_link, ipr, vf))
            vfs.append(CreatedVF(i, vf, Locator(LocatorKind.MAC, mac)))
        # dummy VFs can move to pods; the names recorded are only the node-side ones we still own
        return Created(owned_links=(*(vf_name(pf, i) for i in range(count)), pf), vfs=tuple(vfs))

    def set_pf_link(self, ipr: Any, pf: str, owned: tuple[str, ...], up: bool) -> None:
        raise Unsupported("dummy backend: dummy VFs always report carrier, PF link state cannot reach them")


class NetdevsimBackend:
    name = "netdevsim"
    max_vfs = 4

    def unavailable_reason(self, node_netns: str) -> str | None:
        if not os.path.exists("/sys/bus/netdevsim/new_device"):
            return "kernel has no netdevsim (/sys/bus/netdevsim missing: CONFIG_NETDEVSIM not set)"
        return "netdevsim backend is not implemented yet in sriov-e2e (kernel support is present)"

    def create(self, ipr: Any, pf: str, count: int, undo: UndoStack) -> Created:
        raise Unsupported(self.unavailable_reason("") or "netdevsim backend unavailable")

    def set_pf_link(self, ipr: Any, pf: str, owned: tuple[str, ...], up: bool) -> None:
        raise Unsupported("netdevsim backend unavailable")


BACKENDS: dict[str, VFBackend] = {b.name: b for b in (NetdevsimBackend(), DummyBackend(), VethBackend())}
PREFERENCE = ("netdevsim", "dummy", "veth")  # most faithful first


def get(name: str) -> VFBackend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise BadInput(f"VF backend {name!r}: unknown (choose from {', '.join(PREFERENCE)})") from None


def delete_owned(ipr: Any, pf: str, owned: tuple[str, ...]) -> None:
    """Delete the links a pool record owns; refuse one that carries another owner's sriov-e2e marker."""
    for name in owned:
        rec = netlink.link_by_name(ipr, name)
        if rec is None:
            continue
        if rec.alias is not None and rec.alias.startswith(f"{PREFIX}:") and not rec.alias.startswith(f"{PREFIX}:{pf}:"):
            raise HarnessError(f"link {name}: alias {rec.alias!r} is not ours; refusing to delete it")
        netlink.delete_link(ipr, name)
