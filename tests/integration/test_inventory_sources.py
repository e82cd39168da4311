"""Live netlink and a captured `ip -j -d link` of the same host give the same pool (the remote-node path)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from sriov_e2e import inventory
from sriov_e2e.pytest_plugin import PodNetns
from sriov_e2e.state import PoolRecord
from sriov_e2e.timeouts import TIMEOUTS
from sriov_e2e.wait import NotYet, wait_until

pytestmark = [pytest.mark.integration]


def test_netlink_and_ip_json_capture_agree(make_pool: Callable[..., PoolRecord],
                                           pod_netns: Callable[[], PodNetns]) -> None:
    rec = make_pool(4)
    pod = pod_netns()
    pf = rec.spec.pf_name
    subprocess.run(["ip", "link", "set", f"{pf}v2", "netns", pod.name], check=True)
    subprocess.run(["ip", "-n", pod.name, "link", "set", f"{pf}v2", "name", "net1", "up"], check=True)
    subprocess.run(["ip", "link", "set", f"{pf}v3", "up"], check=True)

    def agree() -> inventory.Pool:
        # links just set up still change operstate for a moment (a bridge goes UNKNOWN -> UP): compare once
        # both reads see the same settled host; a real disagreement persists and fails with both pools
        live = inventory.build_pool(rec.spec, inventory.read_node())
        captured = inventory.build_pool(rec.spec, inventory.node_from_capture(inventory.capture_node()))
        if captured != live:
            raise NotYet(f"netlink read {live}, ip -j capture read {captured}")
        return live

    live = wait_until(agree, timeout=TIMEOUTS.vf_state, what=f"pool {pf} read two ways")
    assert [v.vf_class.value for v in live.vfs] == ["idle", "idle", "in-use", "leaked"]
