"""Inventory: a node's real VF state, read into the model.

`read_node` walks every netns on the host over netlink; `node_from_capture` fills the same NodeView from captured
`ip -j -d link` output of each netns (a remote node). `build_pool` then locates each VF and classifies it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sriov_e2e import netlink, netns, pci_sysfs
from sriov_e2e.errors import BadInput, HarnessError
from sriov_e2e.links import LinkRecord, parse_ip_json
from sriov_e2e.model import PF, VF, Locator, LocatorKind, Pool, PoolSpec, VFSpec, classify

__all__ = ["VF", "NetnsView", "NodeView", "Pool", "build_pool", "capture_node", "locate", "node_from_capture",
           "read_node", "real_sriov_pfs", "spec_from_sysfs"]


@dataclass(frozen=True)
class NetnsView:
    label: str
    holders: tuple[int, ...]
    nsid: int | None  # this netns's id as the node netns sees it (IFLA_LINK_NETNSID values)
    is_node: bool
    links: tuple[LinkRecord, ...]

    def by_index(self, ifindex: int) -> LinkRecord | None:
        return next((link for link in self.links if link.ifindex == ifindex), None)

    def by_name(self, name: str) -> LinkRecord | None:
        return next((link for link in self.links if link.name == name), None)


@dataclass(frozen=True)
class NodeView:
    netns: tuple[NetnsView, ...]

    @property
    def node(self) -> NetnsView:
        return next(v for v in self.netns if v.is_node)

    def by_nsid(self, nsid: int) -> NetnsView | None:
        return next((v for v in self.netns if not v.is_node and v.nsid == nsid), None)


def read_node(node_netns: str | None = None, mount_ns_pid: int | None = None) -> NodeView:
    """Every netns on this host, links read over netlink, relative to the node netns.

    `mount_ns_pid`: a process in the node's mount namespace, whose nsfs mounts (sandbox netns pinned by the
    runtime) are walked too.
    """
    node_path = netns.resolve_node_netns(node_netns)
    try:
        node_id = netns.inode_of(node_path)
    except FileNotFoundError:
        raise BadInput(f"node netns {node_netns}: does not exist") from None
    views = []
    with netlink.ipr_in(node_path) as nipr:
        views.append(NetnsView("host", (), None, True, tuple(netlink.dump_links(nipr))))
        for ref in netns.discover(mount_ns_pid=mount_ns_pid):
            if (ref.dev, ref.inode) == node_id:
                continue
            try:
                nsid = netlink.netnsid_of(nipr, ref.path)
                with netlink.ipr_in(ref.path) as ipr:
                    links = tuple(netlink.dump_links(ipr))
            except (BadInput, FileNotFoundError, ProcessLookupError):
                continue  # the netns went away while we walked: nothing of ours can be in it any more
            views.append(NetnsView(ref.label, ref.holders, nsid, False, links))
    return NodeView(tuple(views))


def node_from_capture(doc: Any) -> NodeView:
    """A NodeView from a capture: {"netns": [{"label", "holders", "nsid", "is_node", "links": <ip -j -d link>}]}."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("netns"), Sequence):
        raise BadInput("capture: want an object with a 'netns' list")
    views = []
    for i, entry in enumerate(doc["netns"]):
        if not isinstance(entry, Mapping) or "links" not in entry:
            raise BadInput(f"capture: netns entry {i} has no 'links'")
        views.append(NetnsView(
            label=str(entry.get("label", f"netns{i}")),
            holders=tuple(int(p) for p in entry.get("holders", ())),
            nsid=entry.get("nsid"),
            is_node=bool(entry.get("is_node", False)),
            links=parse_ip_json(entry["links"]),
        ))
    if sum(v.is_node for v in views) != 1:
        raise BadInput("capture: exactly one netns must have is_node true")
    return NodeView(tuple(views))


def capture_node(node_netns: str | None = None) -> dict[str, Any]:
    """Capture this host with `ip -j -d link` per netns (what a remote node would send), for node_from_capture."""
    node_path = netns.resolve_node_netns(node_netns)
    node_id = netns.inode_of(node_path)

    def ip_links(path: str) -> Any:
        out = subprocess.run(["nsenter", f"--net={path}", "ip", "-j", "-d", "link", "show"],
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out)

    entries: list[dict[str, Any]] = [{"label": "host", "holders": [], "nsid": None, "is_node": True,
                                      "links": ip_links(node_path)}]
    with netlink.ipr_in(node_path) as nipr:
        for ref in netns.discover():
            if (ref.dev, ref.inode) == node_id:
                continue
            try:
                entries.append({"label": ref.label, "holders": list(ref.holders),
                                "nsid": netlink.netnsid_of(nipr, ref.path), "is_node": False,
                                "links": ip_links(ref.path)})
            except (subprocess.CalledProcessError, FileNotFoundError):
                continue
    return {"netns": entries}


def locate(vf: VFSpec, view: NodeView) -> tuple[NetnsView, LinkRecord] | None:
    """Find a VF's netdev wherever it is now."""
    loc = vf.locator
    if loc.kind is LocatorKind.PEER:
        peer = view.node.by_name(loc.value)
        if peer is None:
            return None  # a veth pair dies with both ends: the VF is gone
        where = view.node if peer.link_netnsid is None else view.by_nsid(peer.link_netnsid)
        if where is None:
            return None
        if peer.peer_ifindex is not None:
            link = where.by_index(peer.peer_ifindex)
        else:
            link = where.by_name(peer.peer_name) if peer.peer_name else None
        return None if link is None else (where, link)
    for ns in sorted(view.netns, key=lambda v: not v.is_node):
        for link in ns.links:
            if loc.kind is LocatorKind.PARENT and link.parent_dev == loc.value:
                return ns, link
            if loc.kind is LocatorKind.MAC and link.mac == loc.value and link.kind in ("dummy", None):
                return ns, link
    return None


def build_pool(spec: PoolSpec, view: NodeView) -> Pool:
    pf_link = view.node.by_name(spec.pf_name)
    pf_vfs = dict(pf_link.vfs) if pf_link is not None else {}
    vfs = []
    for s in spec.vfs:
        found = locate(s, view)
        ns, link = found if found is not None else (None, None)
        on_node = ns is not None and ns.is_node
        vfs.append(VF(
            index=s.index,
            pci_address=s.pci_address,
            host_name=s.host_name,
            name=None if link is None else link.name,
            netns=None if ns is None or on_node else ns.label,
            netns_holders=() if ns is None else ns.holders,
            admin_up=None if link is None else link.admin_up,
            oper_state=None if link is None else link.oper_state,
            carrier=None if link is None else link.carrier,
            mac=None if link is None else link.mac,
            mtu=None if link is None else link.mtu,
            config=pf_vfs.get(s.index),
            vf_class=classify(located=link is not None, on_node=on_node,
                              admin_up=None if link is None else link.admin_up,
                              holders=0 if ns is None else len(ns.holders)),
        ))
    pf = PF(
        name=spec.pf_name,
        pci_address=spec.pf_pci_address,
        numvfs=len(spec.vfs),
        totalvfs=spec.totalvfs,
        present=pf_link is not None,
        admin_up=None if pf_link is None else pf_link.admin_up,
        oper_state=None if pf_link is None else pf_link.oper_state,
        carrier=None if pf_link is None else pf_link.carrier,
    )
    return Pool(resource=spec.resource, backend=spec.backend, selector=spec.selector, pf=pf, vfs=tuple(vfs))


def spec_from_sysfs(pf_name: str, resource: str, sys: Path = Path("/sys")) -> PoolSpec:
    """A pool spec for a real SR-IOV PF, read from sysfs (VF netdevs are found by their PCI parent)."""
    addr = pci_sysfs.pf_address_of_netdev(pf_name, sys / "class/net")
    devices = sys / "bus/pci/devices"
    pf = pci_sysfs.read_function(devices, addr)
    if pf.totalvfs is None:
        raise BadInput(f"PF {pf_name} ({addr}): not SR-IOV capable (no sriov_totalvfs)")
    vfs = []
    for i, vf_addr in enumerate(pf.virtfns):
        fn = pci_sysfs.read_function(devices, vf_addr)
        vfs.append(VFSpec(i, vf_addr, fn.netdevs[0] if fn.netdevs else "",
                          Locator(LocatorKind.PARENT, vf_addr)))
    return PoolSpec(pf_name=pf_name, pf_pci_address=addr, backend="hardware", resource=resource,
                    totalvfs=pf.totalvfs, vfs=tuple(vfs), selector={"pfNames": [pf_name]})


def real_sriov_pfs(sys: Path = Path("/sys")) -> list[str]:
    """Host netdevs that are SR-IOV PFs (their PCI device has sriov_totalvfs)."""
    class_net = sys / "class/net"
    if not class_net.is_dir():
        raise HarnessError(f"{class_net} is missing: is sysfs mounted?")
    return sorted(n.name for n in class_net.iterdir() if (n / "device" / "sriov_totalvfs").exists())
