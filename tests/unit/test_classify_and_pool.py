"""The leak rules, as data; pool counts and the JSON contract of `inspect`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sriov_e2e.inventory import build_pool, node_from_capture
from sriov_e2e.model import Locator, LocatorKind, PoolSpec, VFClass, VFSpec, classify

pytestmark = pytest.mark.unit
DATA = Path(__file__).parent / "data"

CASES = [
    # located, on_node, admin_up, holders -> class
    (False, False, None, 0, VFClass.MISSING),
    (True, True, False, 0, VFClass.IDLE),
    (True, True, True, 0, VFClass.LEAKED),  # up on the host, nobody owns it
    (True, False, True, 1, VFClass.IN_USE),
    (True, False, False, 2, VFClass.IN_USE),  # owned by a live sandbox even while down
    (True, False, True, 0, VFClass.LEAKED),  # in a netns only a mount pins: a dead sandbox
]


@pytest.mark.parametrize(("located", "on_node", "admin_up", "holders", "want"), CASES)
def test_classify(located: bool, on_node: bool, admin_up: bool | None, holders: int, want: VFClass) -> None:
    assert classify(located=located, on_node=on_node, admin_up=admin_up, holders=holders) is want


def _hw_spec() -> PoolSpec:
    vfs = tuple(VFSpec(i, f"0000:3b:00.{i + 2}", f"ens1f0v{i}", Locator(LocatorKind.PARENT, f"0000:3b:00.{i + 2}"))
                for i in range(4))
    return PoolSpec("ens1f0", "0000:3b:00.0", "hardware", "openshift.io/mellanoxnics", 8, vfs)


def test_a_captured_hardware_node_is_classified_per_vf() -> None:
    view = node_from_capture(json.loads((DATA / "hw_node_capture.json").read_text()))
    pool = build_pool(_hw_spec(), view)
    assert [vf.vf_class for vf in pool.vfs] == [VFClass.IDLE, VFClass.IN_USE, VFClass.LEAKED, VFClass.MISSING]
    assert (pool.total, pool.in_use, pool.available, pool.leaked, pool.missing) == (4, 1, 1, 1, 1)
    in_pod = pool.vfs[1]
    assert (in_pod.name, in_pod.netns, in_pod.netns_holders) == ("net1", "cni-5b2c", (4242,))
    assert pool.vfs[1].config is not None and pool.vfs[1].config.vlan == 100


def test_inspect_json_contract_keys() -> None:
    view = node_from_capture(json.loads((DATA / "hw_node_capture.json").read_text()))
    d = build_pool(_hw_spec(), view).as_dict()
    assert {"name", "total", "in_use", "available", "leaked", "vfs"} <= d.keys()
    assert {"index", "pci_address", "name", "netns", "admin_up", "oper_state", "class", "config"} <= d["vfs"][0].keys()
    assert {"mac", "vlan", "spoofchk", "trust", "link_state", "max_tx_rate"} <= d["vfs"][0]["config"].keys()
    assert d["vfs"][0]["netns"] is None  # on host
    assert (d["vfs"][3]["class"], d["vfs"][3]["name"]) == ("missing", None)


def _veth_capture(peer_netnsid: int | None, vf_in_pod: bool) -> dict[str, object]:
    peer: dict[str, object] = {"ifindex": 20, "ifname": "fpf0p0", "flags": ["UP"], "linkinfo": {"info_kind": "veth"}}
    if peer_netnsid is not None:  # iproute2 gives the index of a peer in another netns, the name of a local one
        peer.update(link_netnsid=peer_netnsid, link_index=3)
    else:
        peer["link"] = "fpf0v0"
    host_links = [{"ifindex": 19, "ifname": "fpf0", "flags": ["UP"], "linkinfo": {"info_kind": "bridge"}}, peer]
    pod_links = [{"ifindex": 1, "ifname": "lo", "flags": []}]
    vf = {"ifindex": 21 if not vf_in_pod else 3, "ifname": "fpf0v0" if not vf_in_pod else "net1",
          "flags": ["UP", "LOWER_UP"] if vf_in_pod else [], "linkinfo": {"info_kind": "veth"}}
    (pod_links if vf_in_pod else host_links).append(vf)
    return {"netns": [{"label": "host", "is_node": True, "links": host_links},
                      {"label": "pod", "is_node": False, "nsid": 7, "holders": [99], "links": pod_links}]}


@pytest.mark.parametrize(
    ("peer_netnsid", "vf_in_pod", "want_class", "want_name"),
    [(None, False, VFClass.IDLE, "fpf0v0"), (7, True, VFClass.IN_USE, "net1"), (8, True, VFClass.MISSING, None)],
)
def test_a_veth_vf_is_found_through_its_peer(
    peer_netnsid: int | None, vf_in_pod: bool, want_class: VFClass, want_name: str | None
) -> None:
    spec = PoolSpec("fpf0", "0000:fe:00.0", "veth", "x/y", 1,
                    (VFSpec(0, "0000:fe:00.1", "fpf0v0", Locator(LocatorKind.PEER, "fpf0p0")),))
    pool = build_pool(spec, node_from_capture(_veth_capture(peer_netnsid, vf_in_pod)))
    assert (pool.vfs[0].vf_class, pool.vfs[0].name) == (want_class, want_name)


def test_capture_needs_exactly_one_node_netns() -> None:
    from sriov_e2e.errors import BadInput

    with pytest.raises(BadInput, match="exactly one netns"):
        node_from_capture({"netns": [{"label": "a", "links": []}]})
