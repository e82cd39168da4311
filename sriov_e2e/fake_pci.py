"""A fake PCI sysfs tree that the unmodified sriovdp, host-device and sriov-cni accept.

The tree stands in for the whole of `/sys/bus/pci` (`devices/` and `drivers/`), so relative links resolve the same
way they do on a real node. It is shown to a process only through a private mount namespace (fakesys.py), never over
the host's /sys. Rules from shared/notes/fake-sriov-sysfs.md §7.3: modalias ends in a newline (ghw drops shorter
ones), device IDs lower-case, driver links resolve, virtfnN links contiguous from 0, addresses on a bus no real
device uses.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from sriov_e2e.errors import BadInput

MAX_VFS = 255  # functions 1..255 of one bus: 32 devices x 8 functions, minus the PF


@dataclass(frozen=True)
class PciFlavor:
    """Vendor/device IDs and drivers the fake PF and VFs claim to be."""

    name: str
    vendor: str
    pf_device: str
    vf_device: str
    pf_driver: str
    vf_driver: str


FLAVORS: dict[str, PciFlavor] = {
    # Mellanox ConnectX-5: PF 15b3:1017, VF 15b3:1018, both bound to mlx5_core
    "mlx5": PciFlavor("mlx5", "15b3", "1017", "1018", "mlx5_core", "mlx5_core"),
    # Intel X710: PF 8086:1572 (i40e), VF 8086:154c (iavf)
    "i40e": PciFlavor("i40e", "8086", "1572", "154c", "i40e", "iavf"),
}


def pci_address(bus: int, function_number: int) -> str:
    """Address of function `function_number` (0 = PF) on `bus`: 8 functions per device, like real VF layouts."""
    return f"0000:{bus:02x}:{function_number // 8:02x}.{function_number % 8}"


def modalias(vendor: str, device: str) -> str:
    # 53 characters plus the newline the kernel writes; ghw silently drops anything shorter than 54 bytes
    return f"pci:v0000{vendor.upper()}d0000{device.upper()}sv0000{vendor.upper()}sd00000000bc02sc00i00\n"


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="ascii")


class FakePciTree:
    """The fake `/sys/bus/pci` of one node, rooted at `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.devices = root / "devices"
        self.drivers = root / "drivers"

    def used_buses(self) -> set[int]:
        if not self.devices.is_dir():
            return set()
        return {int(name.split(":")[1], 16) for name in os.listdir(self.devices)}

    def _device(self, addr: str, vendor: str, device: str, driver: str) -> Path:
        d = self.devices / addr
        d.mkdir(parents=True)
        _write(d / "modalias", modalias(vendor, device))
        _write(d / "vendor", f"0x{vendor}\n")
        _write(d / "device", f"0x{device}\n")
        _write(d / "subsystem_vendor", f"0x{vendor}\n")
        _write(d / "subsystem_device", "0x0000\n")
        _write(d / "class", "0x020000\n")
        _write(d / "revision", "0x00\n")
        _write(d / "numa_node", "-1\n")
        (self.drivers / driver).mkdir(parents=True, exist_ok=True)
        (d / "driver").symlink_to(f"../../drivers/{driver}")
        (d / "net").mkdir()
        return d

    def add_pf(
        self, *, bus: int, flavor: PciFlavor, pf_netdev: str, vf_netdevs: list[str], totalvfs: int
    ) -> tuple[str, list[str]]:
        """Write a PF with len(vf_netdevs) VFs on `bus`; returns (PF address, VF addresses)."""
        if not 1 <= len(vf_netdevs) <= min(totalvfs, MAX_VFS):
            raise BadInput(f"fake PCI: {len(vf_netdevs)} VFs does not fit totalvfs {totalvfs} (max {MAX_VFS})")
        if bus in self.used_buses():
            raise BadInput(f"fake PCI: bus {bus:02x} is already used in {self.devices}")
        pf_addr = pci_address(bus, 0)
        pf = self._device(pf_addr, flavor.vendor, flavor.pf_device, flavor.pf_driver)
        _write(pf / "sriov_totalvfs", f"{totalvfs}\n")
        _write(pf / "sriov_numvfs", f"{len(vf_netdevs)}\n")
        (pf / "net" / pf_netdev).mkdir()
        vf_addrs = []
        for i, name in enumerate(vf_netdevs):
            addr = pci_address(bus, i + 1)
            vf = self._device(addr, flavor.vendor, flavor.vf_device, flavor.vf_driver)
            (vf / "physfn").symlink_to(f"../{pf_addr}")
            (pf / f"virtfn{i}").symlink_to(f"../{addr}")
            (vf / "net" / name).mkdir()
            vf_addrs.append(addr)
        return pf_addr, vf_addrs

    def remove_bus(self, bus: int) -> None:
        """Remove every device on `bus`, then the tree itself once it holds no device."""
        if self.devices.is_dir():
            for name in os.listdir(self.devices):
                if int(name.split(":")[1], 16) == bus:
                    shutil.rmtree(self.devices / name)
            if not os.listdir(self.devices):
                shutil.rmtree(self.root)

    def set_netdev(self, addr: str, name: str | None) -> bool:
        """Make `<addr>/net/` list exactly `name` (nothing when None), as the kernel does per netns. True if changed."""
        net = self.devices / addr / "net"
        current = set(os.listdir(net)) if net.is_dir() else set()
        want = {name} if name else set()
        if current == want:
            return False
        for stale in current - want:
            (net / stale).rmdir()
        for new in want - current:
            (net / new).mkdir()
        return True
