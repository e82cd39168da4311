"""Flow 1 — idle: every VF on the host and down, the plugin advertises them all, nothing leaked."""

from __future__ import annotations

from sriov_e2e import checks
from sriov_e2e.cluster.backend import Backend
from sriov_e2e.model import VFClass


def test_an_idle_node_has_every_vf_on_the_host_down_and_advertised(
        backend: Backend, settled_pool: checks.PoolViews) -> None:
    v = settled_pool
    assert (v.capacity, v.allocatable, v.requested, len(v.assigned)) == (backend.vf_count,) * 2 + (0, 0)
    for vf in v.pool.vfs:
        assert (vf.netns, vf.name, vf.admin_up, vf.vf_class) == (None, vf.host_name, False, VFClass.IDLE), vf
