"""The fake PCI tree obeys the rules the upstream readers depend on (fake-sriov-sysfs.md §7.3)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sriov_e2e.errors import BadInput
from sriov_e2e.fake_pci import FLAVORS, FakePciTree, modalias, pci_address
from sriov_e2e.pci_sysfs import read_function

pytestmark = pytest.mark.unit


@pytest.fixture
def tree(tmp_path: Path) -> FakePciTree:
    t = FakePciTree(tmp_path / "pci")
    t.add_pf(bus=0xFE, flavor=FLAVORS["i40e"], pf_netdev="fpf0", vf_netdevs=[f"fpf0v{i}" for i in range(9)],
             totalvfs=16)
    return t


def test_modalias_is_54_bytes_with_newline_or_ghw_drops_the_device() -> None:
    m = modalias("8086", "154c")
    assert len(m.encode()) == 54 and m.endswith("\n")
    assert m == "pci:v00008086d0000154Csv00008086sd00000000bc02sc00i00\n"


@pytest.mark.parametrize(("fn", "addr"), [(0, "0000:fe:00.0"), (1, "0000:fe:00.1"), (8, "0000:fe:01.0"),
                                          (255, "0000:fe:1f.7")])
def test_vf_addresses_use_eight_functions_per_device(fn: int, addr: str) -> None:
    assert pci_address(0xFE, fn) == addr


def test_pf_and_vfs_read_back_as_sriovdp_and_the_cnis_read_them(tree: FakePciTree) -> None:
    pf = read_function(tree.devices, "0000:fe:00.0")
    assert (pf.vendor, pf.device, pf.driver, pf.totalvfs, pf.numvfs, pf.netdevs) == (
        "8086", "1572", "i40e", 16, 9, ("fpf0",))
    assert pf.virtfns[8] == "0000:fe:01.1"
    vf = read_function(tree.devices, pf.virtfns[8])
    assert (vf.device, vf.driver, vf.physfn, vf.netdevs) == ("154c", "iavf", "0000:fe:00.0", ("fpf0v8",))
    # driver links must resolve (host-device and ghw follow them)
    assert os.path.isdir(tree.devices / pf.virtfns[8] / "driver")
    assert (tree.devices / "0000:fe:00.1" / "device").read_text() == "0x154c\n"  # lower-case, as sysfs


def test_net_entry_follows_the_netdev(tree: FakePciTree) -> None:
    assert tree.set_netdev("0000:fe:00.1", None) is True
    assert read_function(tree.devices, "0000:fe:00.1").netdevs == ()
    assert tree.set_netdev("0000:fe:00.1", None) is False
    tree.set_netdev("0000:fe:00.1", "fpf0v0")
    assert read_function(tree.devices, "0000:fe:00.1").netdevs == ("fpf0v0",)


def test_removing_the_last_bus_removes_the_tree(tree: FakePciTree) -> None:
    tree.add_pf(bus=0xFD, flavor=FLAVORS["mlx5"], pf_netdev="g", vf_netdevs=["gv0"], totalvfs=1)
    tree.remove_bus(0xFE)
    assert tree.used_buses() == {0xFD}
    tree.remove_bus(0xFD)
    assert not tree.root.exists()


def test_a_bus_cannot_be_used_twice(tree: FakePciTree) -> None:
    with pytest.raises(BadInput, match=r"bus fe is already used"):
        tree.add_pf(bus=0xFE, flavor=FLAVORS["mlx5"], pf_netdev="g", vf_netdevs=["gv0"], totalvfs=1)


def test_gaps_in_virtfn_links_are_rejected(tree: FakePciTree) -> None:
    (tree.devices / "0000:fe:00.0" / "virtfn3").unlink()
    with pytest.raises(BadInput, match="contiguous"):
        read_function(tree.devices, "0000:fe:00.0")


@pytest.mark.parametrize("addr", ["fe:00.1", "0000:fe:00.8", "../etc"])
def test_malformed_addresses_are_refused(tree: FakePciTree, addr: str) -> None:
    with pytest.raises(BadInput, match="not a PCI address"):
        read_function(tree.devices, addr)


def test_missing_vendor_file_is_a_clear_error(tree: FakePciTree) -> None:
    (tree.devices / "0000:fe:00.2" / "vendor").unlink()
    with pytest.raises(BadInput, match=r"0000:fe:00\.2 lacks vendor"):
        read_function(tree.devices, "0000:fe:00.2")
