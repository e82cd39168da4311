"""The real host-device CNI plugin moves a fake VF found by its PCI address, and gives it back (CNI spec ADD/CHECK/DEL).

The plugin binary is upstream's, unmodified; it sees the fake PCI tree through the wrapper's private mount namespace.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from sriov_e2e import cni, fakesys, inventory
from sriov_e2e.model import VFClass
from sriov_e2e.pytest_plugin import PodNetns
from sriov_e2e.state import PoolRecord, State
from sriov_e2e.timeouts import TIMEOUTS
from sriov_e2e.wait import NotYet, wait_until

pytestmark = [pytest.mark.integration]
SUBNET = ipaddress.ip_network("10.56.217.0/24")  # only inside the test's pod netns
UPSTREAM = Path(os.environ.get("SRIOV_E2E_CNI_DIR", "/usr/lib/cni"))


@pytest.fixture
def cni_dir(tmp_path: Path, state: State, make_pool: Callable[..., PoolRecord]) -> Path:
    """A CNI_PATH holding host-device behind the fake-tree wrapper, and host-local as is."""
    if not os.access(UPSTREAM / "host-device", os.X_OK):
        pytest.skip(f"no host-device plugin in {UPSTREAM} (apt-get install containernetworking-plugins, "
                    "or set SRIOV_E2E_CNI_DIR to the pinned build)")
    d = tmp_path / "cni-bin"
    d.mkdir()
    state.pci_root.joinpath("devices").mkdir(parents=True, exist_ok=True)  # the wrapper needs a tree to bind
    fakesys.write_wrapper(d / "host-device", UPSTREAM / "host-device", state.pci_root)
    (d / "host-local").symlink_to(UPSTREAM / "host-local")
    return d


def _conf(pci: str, ipam_dir: Path) -> dict[str, object]:
    return {"cniVersion": "1.0.0", "name": "sriov-e2e-fake", "type": "host-device", "pciBusID": pci,
            "ipam": {"type": "host-local", "dataDir": str(ipam_dir), "ranges": [[{"subnet": str(SUBNET)}]]}}


def _pod_addrs(pod: PodNetns, ifname: str) -> list[str]:
    out = subprocess.run(["ip", "-n", pod.name, "-j", "addr", "show", "dev", ifname], capture_output=True,
                         text=True, check=True).stdout
    return [f"{a['local']}/{a['prefixlen']}" for a in json.loads(out)[0]["addr_info"] if a["family"] == "inet"]


def _vf(state: State, rec: PoolRecord, index: int) -> inventory.VF:
    return inventory.build_pool(rec.spec, inventory.read_node()).vfs[index]


def test_host_device_moves_the_vf_by_pci_address_and_returns_it(
    state: State, make_pool: Callable[..., PoolRecord], pod_netns: Callable[[], PodNetns], cni_dir: Path,
    tmp_path: Path,
) -> None:
    rec = make_pool(2)
    target = rec.spec.vfs[1]
    pod = pod_netns()
    conf = _conf(target.pci_address, tmp_path / "ipam")
    call = {"cni_path": cni_dir, "container_id": "sriov-e2e-c1", "netns": pod.path, "ifname": "net1"}

    add = cni.invoke("ADD", conf, **call)  # type: ignore[arg-type]
    assert add.ok, add.stderr
    assert add.result is not None
    ip = add.result["ips"][0]["address"]
    assert ipaddress.ip_interface(ip).ip in SUBNET
    assert add.result["interfaces"][0]["name"] == "net1"
    vf = _vf(state, rec, 1)
    assert (vf.name, vf.netns, vf.admin_up, vf.vf_class) == ("net1", pod.name, True, VFClass.IN_USE)
    assert _pod_addrs(pod, "net1") == [ip]
    assert _vf(state, rec, 0).vf_class is VFClass.IDLE  # the other VF was not touched

    def net_entry_is(want: list[str]) -> Callable[[], None]:
        def check() -> None:
            got = sorted(p.name for p in (state.pci_root / "devices" / target.pci_address / "net").iterdir())
            if got != want:
                raise NotYet(f"lists {got}, want {want}")
        return check

    wait_until(net_entry_is([]), timeout=TIMEOUTS.fake_sysfs_sync, what=f"fake {target.pci_address}/net")

    check = cni.invoke("CHECK", {**conf, "prevResult": add.result}, **call)  # type: ignore[arg-type]
    assert check.ok, check.stderr

    delete = cni.invoke("DEL", conf, **call)  # type: ignore[arg-type]
    assert delete.ok, delete.stderr
    vf = _vf(state, rec, 1)
    assert (vf.name, vf.netns, vf.admin_up, vf.vf_class) == (target.host_name, None, False, VFClass.IDLE)
    reserved = [p.name for p in (tmp_path / "ipam" / "sriov-e2e-fake").iterdir()]
    assert str(ipaddress.ip_interface(ip).ip) not in reserved, f"IP still reserved: {reserved}"
    wait_until(net_entry_is([target.host_name]), timeout=TIMEOUTS.fake_sysfs_sync,
               what=f"fake {target.pci_address}/net")


def test_host_device_refuses_a_pci_address_that_is_not_there(
    state: State, make_pool: Callable[..., PoolRecord], pod_netns: Callable[[], PodNetns], cni_dir: Path,
    tmp_path: Path,
) -> None:
    rec = make_pool(1)
    pod = pod_netns()
    absent = rec.spec.vfs[0].pci_address[:-1] + "7"
    add = cni.invoke("ADD", _conf(absent, tmp_path / "ipam"), cni_path=cni_dir, container_id="sriov-e2e-c2",
                     netns=pod.path, ifname="net1")
    assert not add.ok and absent in add.stderr, add
    assert _vf(state, rec, 0).vf_class is VFClass.IDLE
