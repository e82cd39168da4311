"""Read SR-IOV PCI sysfs (real, or a fake tree) the way the device plugin and the CNIs do."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from sriov_e2e.errors import BadInput

_ADDR = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
_VIRTFN = re.compile(r"^virtfn(\d+)$")


@dataclass(frozen=True)
class PciFunction:
    address: str
    vendor: str
    device: str
    driver: str | None  # basename of the driver link; None when the link is missing or dangling
    netdevs: tuple[str, ...]
    physfn: str | None  # the PF's address, for a VF
    totalvfs: int | None  # for a PF
    numvfs: int | None
    virtfns: tuple[str, ...]  # VF addresses by index, for a PF


def _read(path: Path) -> str:
    return path.read_text(encoding="ascii").strip()


def _read_int(path: Path) -> int | None:
    try:
        return int(_read(path))
    except FileNotFoundError:
        return None
    except ValueError as e:
        raise BadInput(f"sysfs: {path} does not hold an integer: {e}") from None


def read_function(devices: Path, address: str) -> PciFunction:
    """One PCI function under a `devices/` dir (e.g. /sys/bus/pci/devices)."""
    if not _ADDR.match(address):
        raise BadInput(f"sysfs: {address!r} is not a PCI address (want dddd:bb:dd.f)")
    d = devices / address
    if not d.is_dir():
        raise BadInput(f"sysfs: no PCI function {address} under {devices}")
    try:
        vendor = _read(d / "vendor").removeprefix("0x")
        device = _read(d / "device").removeprefix("0x")
    except FileNotFoundError as e:
        raise BadInput(f"sysfs: PCI function {address} lacks {Path(e.filename).name}") from None
    driver = None
    if (d / "driver").exists():  # exists() follows the link: a dangling link counts as no driver
        driver = os.path.basename(os.readlink(d / "driver"))
    physfn = os.path.basename(os.readlink(d / "physfn")) if (d / "physfn").is_symlink() else None
    net = d / "net"
    netdevs = tuple(sorted(os.listdir(net))) if net.is_dir() else ()
    virt: dict[int, str] = {}
    for entry in os.listdir(d):
        m = _VIRTFN.match(entry)
        if m:
            virt[int(m.group(1))] = os.path.basename(os.readlink(d / entry))
    if virt and sorted(virt) != list(range(len(virt))):
        raise BadInput(f"sysfs: PF {address} has virtfn links {sorted(virt)}, want contiguous from 0")
    return PciFunction(
        address=address,
        vendor=vendor,
        device=device,
        driver=driver,
        netdevs=netdevs,
        physfn=physfn,
        totalvfs=_read_int(d / "sriov_totalvfs"),
        numvfs=_read_int(d / "sriov_numvfs"),
        virtfns=tuple(virt[i] for i in range(len(virt))),
    )


def pf_address_of_netdev(netdev: str, class_net: Path = Path("/sys/class/net")) -> str:
    """PCI address behind a host netdev, or a clear error when it is not a PCI device."""
    dev = class_net / netdev
    if not dev.exists():
        raise BadInput(f"PF {netdev}: no such network interface on this host")
    target = dev / "device"
    if not target.exists():
        raise BadInput(f"PF {netdev}: not a PCI device (no {target})")
    addr = os.path.basename(os.path.realpath(target))
    if not _ADDR.match(addr):
        raise BadInput(f"PF {netdev}: its device {addr} is not a PCI function")
    return addr
