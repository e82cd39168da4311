"""Link records: one normalized view of a netdev, from netlink messages or from `ip -j -d link` JSON.

Two sources, one record: live inventory reads netlink (pyroute2); remote or captured nodes give `ip -j -d link`
output. Both adapters fill the same fields so classification never depends on the source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sriov_e2e.errors import BadInput
from sriov_e2e.model import VFConfig

IFF_UP = 0x1
IFF_LOWER_UP = 0x10000
_LINK_STATES = {0: "auto", 1: "enable", 2: "disable"}


@dataclass(frozen=True)
class LinkRecord:
    ifindex: int
    name: str
    kind: str | None  # veth, bridge, dummy, ... (None for hardware drivers)
    mac: str | None
    mtu: int | None
    admin_up: bool
    carrier: bool  # IFF_LOWER_UP
    oper_state: str
    peer_ifindex: int | None  # IFLA_LINK: a veth's peer (in link_netnsid's netns when set)
    link_netnsid: int | None
    parent_bus: str | None
    parent_dev: str | None
    alias: str | None
    master_ifindex: int | None
    vfs: tuple[tuple[int, VFConfig], ...] = ()  # (vf index, config) as this link reports as a PF
    peer_name: str | None = None  # `ip -j` names a same-netns peer ("link") instead of giving its index


def _vf_from_netlink(vfinfo: Any) -> tuple[int, VFConfig]:
    mac_attr = vfinfo.get_attr("IFLA_VF_MAC")
    idx = int(mac_attr["vf"])
    mac = str(mac_attr["mac"]).lower()
    vlan = vfinfo.get_attr("IFLA_VF_VLAN")
    spoof = vfinfo.get_attr("IFLA_VF_SPOOFCHK")
    trust = vfinfo.get_attr("IFLA_VF_TRUST")
    state = vfinfo.get_attr("IFLA_VF_LINK_STATE")
    rate = vfinfo.get_attr("IFLA_VF_RATE")
    return idx, VFConfig(
        mac=mac,
        vlan=int(vlan["vlan"]) if vlan else 0,
        qos=int(vlan["qos"]) if vlan else 0,
        # the kernel reports -1 (as unsigned) when a driver cannot say
        spoofchk=None if spoof is None or spoof["spoofchk"] > 1 else bool(spoof["spoofchk"]),
        trust=None if trust is None or trust["trust"] > 1 else bool(trust["trust"]),
        link_state=None if state is None else _LINK_STATES.get(int(state["link_state"])),
        min_tx_rate=None if rate is None else int(rate["min_tx_rate"]),
        max_tx_rate=None if rate is None else int(rate["max_tx_rate"]),
    )


def from_netlink(msg: Any) -> LinkRecord:
    """Normalize a pyroute2 ifinfmsg (RTM_NEWLINK)."""
    flags = int(msg["flags"])
    linkinfo = msg.get_attr("IFLA_LINKINFO")
    kind = linkinfo.get_attr("IFLA_INFO_KIND") if linkinfo is not None else None
    vfs: list[tuple[int, VFConfig]] = []
    vflist = msg.get_attr("IFLA_VFINFO_LIST")
    if vflist is not None:
        vfs = sorted(_vf_from_netlink(v) for v in vflist.get_attrs("IFLA_VF_INFO"))
    link = msg.get_attr("IFLA_LINK")
    ifindex = int(msg["index"])
    return LinkRecord(
        ifindex=ifindex,
        name=str(msg.get_attr("IFLA_IFNAME")),
        kind=kind,
        mac=msg.get_attr("IFLA_ADDRESS"),
        mtu=msg.get_attr("IFLA_MTU"),
        admin_up=bool(flags & IFF_UP),
        carrier=bool(flags & IFF_LOWER_UP),
        oper_state=str(msg.get_attr("IFLA_OPERSTATE") or "UNKNOWN"),
        # iproute2 prints link_index only when IFLA_LINK differs from the own index; match it
        peer_ifindex=None if link in (None, ifindex) else int(link),
        link_netnsid=msg.get_attr("IFLA_LINK_NETNSID"),
        parent_bus=msg.get_attr("IFLA_PARENT_DEV_BUS_NAME"),
        parent_dev=msg.get_attr("IFLA_PARENT_DEV_NAME"),
        alias=msg.get_attr("IFLA_IFALIAS") or None,
        master_ifindex=msg.get_attr("IFLA_MASTER"),
        vfs=tuple(vfs),
    )


def _req(obj: Mapping[str, Any], key: str, what: str) -> Any:
    if key not in obj:
        raise BadInput(f"ip -j link output: {what} has no {key!r} field")
    return obj[key]


def _vf_from_ip_json(v: Mapping[str, Any], pf: str) -> tuple[int, VFConfig]:
    """One `vfinfo_list` entry as iproute2 prints it (ip/ipaddress.c print_vfinfo): zero vlan/qos are omitted."""
    idx = int(_req(v, "vf", f"a vfinfo_list entry of {pf}"))
    vlan, qos = int(v.get("vlan", 0)), int(v.get("qos", 0))
    vlan_list = v.get("vlan_list")
    if vlan_list:  # drivers with QinQ support report a list; the first entry is the outer tag
        vlan, qos = int(vlan_list[0].get("vlan", 0)), int(vlan_list[0].get("qos", 0))
    rate = v.get("rate") or {}
    link_state = v.get("link_state")
    return idx, VFConfig(
        mac=str(v["mac"]).lower() if "mac" in v else None,
        vlan=vlan,
        qos=qos,
        spoofchk=v.get("spoofchk"),
        trust=v.get("trust"),
        link_state=str(link_state) if link_state is not None else None,
        min_tx_rate=rate.get("min_tx"),
        max_tx_rate=rate.get("max_tx"),
    )


def from_ip_json(obj: Mapping[str, Any]) -> LinkRecord:
    """Normalize one element of `ip -j -d link show` output."""
    if not isinstance(obj, Mapping):
        raise BadInput(f"ip -j link output: expected an object per link, got {type(obj).__name__}")
    name = str(_req(obj, "ifname", "a link"))
    flags = obj.get("flags", [])
    if not isinstance(flags, list):
        raise BadInput(f"ip -j link output: link {name} has flags {flags!r}, want a list")
    linkinfo = obj.get("linkinfo") or {}
    ifindex = int(_req(obj, "ifindex", f"link {name}"))
    vfs = sorted(_vf_from_ip_json(v, name) for v in obj.get("vfinfo_list", []))
    return LinkRecord(
        ifindex=ifindex,
        name=name,
        kind=linkinfo.get("info_kind"),
        mac=obj.get("address"),
        mtu=obj.get("mtu"),
        admin_up="UP" in flags,
        carrier="LOWER_UP" in flags,
        oper_state=str(obj.get("operstate", "UNKNOWN")),
        peer_ifindex=obj.get("link_index"),
        link_netnsid=obj.get("link_netnsid"),
        parent_bus=obj.get("parentbus"),
        parent_dev=obj.get("parentdev"),
        alias=obj.get("ifalias") or None,
        master_ifindex=None,  # ip -j names the master ("master": "br0"), resolved by the caller if needed
        vfs=tuple(vfs),
        peer_name=obj.get("link") if "link_netnsid" not in obj else None,
    )


def parse_ip_json(data: Any) -> tuple[LinkRecord, ...]:
    """Parse a whole `ip -j -d link show` document (a JSON list)."""
    if not isinstance(data, Sequence) or isinstance(data, str | bytes):
        raise BadInput(f"ip -j link output: expected a JSON list of links, got {type(data).__name__}")
    return tuple(from_ip_json(o) for o in data)
