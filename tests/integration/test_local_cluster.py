"""The local backend: `cluster up` gives a working SR-IOV node; `cluster down` leaves the host exactly as before.

Needs the pinned toolchain (`make tools`) and Debian's containerd; skipped with the reason otherwise.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from sriov_e2e import hostsnap
from sriov_e2e.cluster.layout import LocalSettings
from sriov_e2e.cluster.local import NEEDED_BINARIES, LocalCluster, tool_paths
from sriov_e2e.errors import BadInput, HarnessError, Unsupported
from sriov_e2e.suite import Pods

pytestmark = [pytest.mark.integration, pytest.mark.needs_tools]

# its own name and ports, so a developer's default cluster can stay up meanwhile
SETTINGS = LocalSettings(name="sriov-e2e-it", etcd_port=23379, etcd_peer_port=23380, apiserver_port=27443,
                         controller_manager_port=22257, scheduler_port=22259, kubelet_port=22250,
                         kubelet_healthz_port=22248)


def _tools_missing() -> str | None:
    paths = tool_paths()
    missing = [n for n in NEEDED_BINARIES if not Path(paths["binaries"].get(n, "/nonexistent")).is_file()]
    if missing:
        return f"pinned binaries missing ({', '.join(missing)}): run `make tools`"
    if shutil.which("containerd") is None:
        return "containerd is not installed (apt-get install containerd runc)"
    return None


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    reason = _tools_missing()
    if reason:
        pytest.skip(reason)
    c = LocalCluster(SETTINGS)
    yield c
    c.down(progress=lambda _: None)  # a no-op when the test already took it down


def test_up_gives_a_working_sriov_node_and_down_leaves_the_host_as_before(cluster: LocalCluster) -> None:
    before = hostsnap.snapshot()
    cluster.up(progress=lambda _: None)
    kube = cluster.kube()
    try:
        with pytest.raises(BadInput, match="already up"):
            LocalCluster(SETTINGS).up(progress=lambda _: None)
        kube.kubectl_apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "it"}})
        pods = Pods(kube, cluster, "it")
        counts = kube.resource_counts(cluster.node_name, cluster.resource)
        assert counts.allocatable - kube.requested_on_node(cluster.node_name, cluster.resource) == 4
        pods.create("vf", vfs=1)
        pods.wait_running("vf")
        ip = ipaddress.ip_interface(pods.addresses("vf", "net1")[0])
        assert ip.ip in ipaddress.ip_network(SETTINGS.vf_subnet)
        assert counts.allocatable - kube.requested_on_node(cluster.node_name, cluster.resource) == 3
        assert cluster.pool().in_use == 1
    finally:
        kube.close()
    cluster.down(progress=lambda _: None)
    assert before.diff(hostsnap.snapshot()) == []


def test_a_port_in_use_is_refused_before_anything_starts(cluster: LocalCluster) -> None:
    before = hostsnap.snapshot()
    with socket.socket() as s:
        s.bind(("127.0.0.1", SETTINGS.apiserver_port))
        s.listen()
        with pytest.raises(BadInput, match=f"port {SETTINGS.apiserver_port} \\(apiserver\\) is in use"):
            cluster.up(progress=lambda _: None)
    assert not cluster.L.dir.exists()
    assert before.diff(hostsnap.snapshot()) == []


@pytest.mark.parametrize(("overrides", "error", "message"), [
    ({"vf_count": 500}, BadInput, "pool of 500 VFs: the veth VF backend allows 1..128"),
    ({"vf_backend": "dummy"}, Unsupported, "VF backend dummy: this kernel has no dummy links"),
])
def test_a_pool_the_backend_cannot_make_is_refused(
        cluster: LocalCluster, overrides: dict[str, object], error: type[Exception], message: str) -> None:
    if overrides.get("vf_backend") == "dummy" and Path("/sys/module/dummy").exists():
        pytest.skip("this kernel has dummy links")
    c = LocalCluster(SETTINGS.with_overrides(**overrides))
    with pytest.raises(error, match=message):
        c.up(progress=lambda _: None)
    assert not c.L.dir.exists()


def test_a_state_dir_that_is_not_a_cluster_is_never_touched(cluster: LocalCluster, tmp_path: Path) -> None:
    c = LocalCluster(SETTINGS.with_overrides(root=tmp_path))
    c.L.dir.mkdir()
    (c.L.dir / "precious").write_text("mine")
    with pytest.raises(BadInput, match="not a sriov-e2e cluster"):
        c.up(progress=lambda _: None)
    with pytest.raises(BadInput, match="not a sriov-e2e cluster state dir"):
        c.down(progress=lambda _: None)
    assert (c.L.dir / "precious").read_text() == "mine"


def test_missing_binaries_are_named(cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRIOV_E2E_CACHE", str(tmp_path / "empty-cache"))
    c = LocalCluster(SETTINGS)
    with pytest.raises(HarnessError, match="pinned binaries missing: etcd, kube-apiserver"):
        c.up(progress=lambda _: None)
    assert not c.L.dir.exists()


def test_not_root_is_refused(cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(HarnessError, match="needs root"):
        cluster.up(progress=lambda _: None)
    assert not cluster.L.dir.exists()
