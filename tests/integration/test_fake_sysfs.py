"""The fake PCI tree is seen only through a private mount namespace, and its net/ entries follow the VFs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sriov_e2e.pytest_plugin import PodNetns
from sriov_e2e.state import PoolRecord, State
from sriov_e2e.timeouts import TIMEOUTS
from sriov_e2e.wait import NotYet, wait_until

pytestmark = [pytest.mark.integration]


def _net_entries(state: State, addr: str) -> list[str]:
    return sorted(p.name for p in (state.pci_root / "devices" / addr / "net").iterdir())


def test_net_entry_leaves_with_the_vf_and_returns_with_it(
    state: State, make_pool: Callable[..., PoolRecord], pod_netns: Callable[[], PodNetns]
) -> None:
    rec = make_pool(2)
    vf = rec.spec.vfs[1]
    pod = pod_netns()
    assert _net_entries(state, vf.pci_address) == [vf.host_name]

    def entries_are(want: list[str]) -> Callable[[], None]:
        def check() -> None:
            got = _net_entries(state, vf.pci_address)
            if got != want:
                raise NotYet(f"net/ lists {got}, want {want}")
        return check

    subprocess.run(["ip", "link", "set", vf.host_name, "netns", pod.name], check=True)
    wait_until(entries_are([]), timeout=TIMEOUTS.fake_sysfs_sync, what=f"fake {vf.pci_address}/net")
    subprocess.run(["ip", "-n", pod.name, "link", "set", vf.host_name, "netns", "1"], check=True)
    wait_until(entries_are([vf.host_name]), timeout=TIMEOUTS.fake_sysfs_sync, what=f"fake {vf.pci_address}/net")


def test_only_the_wrapped_process_sees_the_fake_tree(state: State, make_pool: Callable[..., PoolRecord]) -> None:
    rec = make_pool(2)
    vf = rec.spec.vfs[0].pci_address
    mounts_before = Path("/proc/self/mountinfo").read_text()
    p = subprocess.run([sys.executable, "-m", "sriov_e2e", "--state-dir", str(state.root), "fakesys", "exec", "--",
                        "sh", "-c", f"cat /sys/bus/pci/devices/{vf}/device; readlink -f /sys/bus/pci/devices/{vf}/"
                        f"driver; ls /sys/bus/pci/devices/{vf}/net"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["0x1018", "/sys/bus/pci/drivers/mlx5_core", rec.spec.vfs[0].host_name]
    assert not Path(f"/sys/bus/pci/devices/{vf}").exists()  # the host's /sys is untouched
    assert Path("/proc/self/mountinfo").read_text() == mounts_before
