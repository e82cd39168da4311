"""Local-cluster config as data: everything points into the state dir; the host-wide sysctl ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sriov_e2e.cluster import hostfx, manifests
from sriov_e2e.cluster.layout import Layout, LocalSettings
from sriov_e2e.errors import BadInput
from sriov_e2e.model import Locator, LocatorKind, PoolSpec, VFSpec
from sriov_e2e.state import PoolRecord

pytestmark = pytest.mark.unit


def test_kubelet_and_containerd_write_only_under_the_state_dir(tmp_path: Path) -> None:
    s = LocalSettings(root=tmp_path)
    L = Layout(s)
    kc = manifests.kubelet_config(s, pki=L.pki, sock=L.containerd_sock, pod_logs=L.pod_logs,
                                  volume_plugins=L.volume_plugins)
    for key in ("podLogsDir", "volumePluginDir", "tlsCertFile"):
        assert str(kc[key]).startswith(str(L.dir)), key
    assert (kc["cgroupRoot"], kc["cgroupDriver"], kc["failCgroupV1"], kc["makeIPTablesUtilChains"]) == (
        "/sriov-e2e", "cgroupfs", False, False)
    toml = manifests.containerd_config(root=L.containerd / "root", state=L.containerd / "state",
                                       sock=L.containerd_sock, sandbox_image="registry.k8s.io/pause:3.10.1",
                                       cni_bin=L.cni_bin, cni_conf=L.cni_conf)
    assert "restrict_oom_score_adj = true" in toml and "SystemdCgroup = false" in toml
    for line in toml.splitlines():
        if "path =" in line or "Root =" in line or "address =" in line or "_dir =" in line:
            assert str(L.dir) in line, line


def test_the_vf_attachment_uses_host_device_with_ipam_on_the_node_tmpfs() -> None:
    nad = manifests.nad("sriov-net", "default", "openshift.io/mellanoxnics", "10.56.217.0/24")
    cfg = json.loads(nad["spec"]["config"])
    assert nad["metadata"]["annotations"]["k8s.v1.cni.cncf.io/resourceName"] == "openshift.io/mellanoxnics"
    assert (cfg["type"], cfg["ipam"]["dataDir"]) == ("host-device", "/run/cni-ipam")


def test_sriovdp_selects_the_pool_by_its_selector() -> None:
    spec = PoolSpec("fpf0", "0000:fe:00.0", "veth", "openshift.io/mellanoxnics", 1,
                    (VFSpec(0, "0000:fe:00.1", "fpf0v0", Locator(LocatorKind.PEER, "fpf0p0")),),
                    {"pfNames": ["fpf0"], "vendors": ["15b3"]})
    conf = manifests.sriovdp_config("mellanoxnics", "openshift.io", PoolRecord(spec, 0xFE, "mlx5", ()))
    assert conf == {"resourceList": [{"resourceName": "mellanoxnics", "resourcePrefix": "openshift.io",
                                      "selectors": {"pfNames": ["fpf0"], "vendors": ["15b3"]}}]}


@pytest.mark.parametrize("name", ["", "has space", "x" * 21, "a/b"])
def test_bad_cluster_names_are_refused(name: str) -> None:
    with pytest.raises(BadInput, match="cluster name"):
        LocalSettings(name=name)


def test_the_last_cluster_down_restores_the_hosts_sysctls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    values = {"kernel/panic": "1"}
    restored: list[dict[str, str]] = []
    monkeypatch.setattr(hostfx, "read_sysctls", lambda: dict(values))
    monkeypatch.setattr(hostfx, "restore_sysctls", lambda saved: restored.append(saved) or list(saved))
    hostfx.hold_sysctls(tmp_path, "a")
    values["kernel/panic"] = "10"  # a's kubelet changed it
    hostfx.hold_sysctls(tmp_path, "b")  # b must not take 10 for the host's value
    assert hostfx.release_sysctls(tmp_path, "a") == [] and restored == []
    hostfx.release_sysctls(tmp_path, "b")
    assert restored == [{"kernel/panic": "1"}]
    assert list(tmp_path.iterdir()) == []
