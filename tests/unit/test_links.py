"""Both link sources (netlink messages, `ip -j -d link`) give the same LinkRecord fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.requests.link import LinkIPRouteFilter

from sriov_e2e.errors import BadInput
from sriov_e2e.links import from_ip_json, from_netlink, parse_ip_json
from sriov_e2e.model import VFConfig

pytestmark = pytest.mark.unit
DATA = Path(__file__).parent / "data"


def _netlink_pf() -> ifinfmsg:
    vfinfo = LinkIPRouteFilter("set").get_vf(
        {"vf": 1, "mac": "0a:58:0a:38:00:05", "vlan": 100, "qos": 3, "spoofchk": 0, "trust": 1, "link_state": 1,
         "rate": {"max_tx_rate": 1000, "min_tx_rate": 0}})
    for name, attr in vfinfo["attrs"][0][1]["attrs"]:
        if name == "IFLA_VF_VLAN":
            attr["qos"] = 3  # pyroute2's request filter drops qos; the kernel reports it
    m = ifinfmsg()
    m["index"] = 4
    m["flags"] = 0x1 | 0x10000
    m["attrs"] = [("IFLA_IFNAME", "ens1f0"), ("IFLA_ADDRESS", "b8:ce:f6:00:00:10"), ("IFLA_MTU", 1500),
                  ("IFLA_OPERSTATE", "UP"), ("IFLA_VFINFO_LIST", vfinfo),
                  ("IFLA_PARENT_DEV_NAME", "0000:3b:00.0"), ("IFLA_PARENT_DEV_BUS_NAME", "pci")]
    m.encode()
    decoded = ifinfmsg(m.data)
    decoded.decode()
    return decoded


EXPECTED_VF1 = VFConfig(mac="0a:58:0a:38:00:05", vlan=100, qos=3, spoofchk=False, trust=True, link_state="enable",
                        min_tx_rate=0, max_tx_rate=1000)


def test_netlink_and_ip_json_agree_on_a_pf_with_vf_config() -> None:
    nl = from_netlink(_netlink_pf())
    doc = json.loads((DATA / "hw_node_capture.json").read_text())
    ipj = from_ip_json(doc["netns"][0]["links"][1])
    assert dict(nl.vfs)[1] == EXPECTED_VF1
    assert dict(ipj.vfs)[1] == EXPECTED_VF1
    for field in ("ifindex", "name", "mac", "mtu", "admin_up", "carrier", "oper_state", "parent_bus", "parent_dev"):
        assert getattr(nl, field) == getattr(ipj, field), field


def test_ip_json_veth_peer_in_another_netns() -> None:
    rec = from_ip_json({"ifindex": 5, "link_index": 6, "ifname": "fpf0p0", "flags": ["BROADCAST", "UP"],
                        "mtu": 1500, "operstate": "LOWERLAYERDOWN", "link_netnsid": 0,
                        "linkinfo": {"info_kind": "veth"}, "address": "2e:33:90:00:f3:c9"})
    assert (rec.kind, rec.peer_ifindex, rec.link_netnsid, rec.admin_up, rec.carrier) == ("veth", 6, 0, True, False)


def test_zero_vlan_is_omitted_by_iproute2_and_read_as_zero() -> None:
    rec = from_ip_json({"ifindex": 4, "ifname": "p", "vfinfo_list": [{"vf": 0, "mac": "00:00:00:00:00:00"}]})
    assert dict(rec.vfs)[0].vlan == 0 and dict(rec.vfs)[0].qos == 0


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"ifname": "x"}, "has no 'ifindex'"),
        ({"ifindex": 1}, "has no 'ifname'"),
        ({"ifindex": 1, "ifname": "x", "flags": "UP"}, "want a list"),
        ({"ifindex": 1, "ifname": "x", "vfinfo_list": [{"mac": "00:00:00:00:00:00"}]}, "has no 'vf'"),
    ],
)
def test_malformed_ip_json_is_one_clear_error(doc: dict[str, object], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        from_ip_json(doc)


def test_ip_json_document_must_be_a_list() -> None:
    with pytest.raises(BadInput, match="JSON list"):
        parse_ip_json({"ifname": "x"})
