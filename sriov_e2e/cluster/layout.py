"""Settings and file layout of one local cluster: everything it writes lives under one state dir."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from sriov_e2e.errors import BadInput

ENV_ROOT = "SRIOV_E2E_CLUSTER_ROOT"
DEFAULT_ROOT = "/var/tmp/sriov-e2e"  # not under /var/lib or /run: the node overlays those


@dataclass(frozen=True)
class LocalSettings:
    """What a user may choose for a local cluster; defaults fit a 2-core machine and avoid the usual ports."""

    name: str = "sriov-e2e"
    root: Path = Path(os.environ.get(ENV_ROOT, DEFAULT_ROOT))
    pf: str = "fpf0"
    vf_count: int = 4
    vf_backend: str = "veth"
    resource: str = "openshift.io/mellanoxnics"
    etcd_port: int = 22379
    etcd_peer_port: int = 22380
    apiserver_port: int = 26443
    controller_manager_port: int = 21257
    scheduler_port: int = 21259
    kubelet_port: int = 21250
    kubelet_healthz_port: int = 21248
    pod_subnet: str = "10.244.0.0/24"  # the default pod network on the node's own bridge
    service_subnet: str = "10.0.0.0/24"
    vf_subnet: str = "10.56.217.0/24"  # host-local range of the VF network attachment
    nad_name: str = "sriov-net"

    def __post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c == "-" for c in self.name) or len(self.name) > 20:
            raise BadInput(f"cluster name {self.name!r}: want 1-20 letters, digits or '-'")
        if "/" not in self.resource:
            raise BadInput(f"resource {self.resource!r}: want PREFIX/NAME")

    def with_overrides(self, **kw: object) -> LocalSettings:
        return dataclasses.replace(self, **{k: v for k, v in kw.items() if v is not None})  # type: ignore[arg-type]

    @property
    def ports(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name.endswith("_port")}

    @property
    def node_name(self) -> str:
        return f"{self.name}-node"

    @property
    def bridge(self) -> str:
        return "se2e-br0" if self.name == "sriov-e2e" else f"se2e-{self.name[:10]}"

    @property
    def cgroup(self) -> str:
        return f"sriov-e2e-{self.name}" if self.name != "sriov-e2e" else "sriov-e2e"


class Layout:
    """Paths under `<root>/<name>/`."""

    def __init__(self, s: LocalSettings) -> None:
        self.dir = s.root / s.name
        self.marker = self.dir / "cluster.json"
        self.pki = self.dir / "pki"
        self.kubeconfigs = self.dir / "kubeconfigs"
        self.admin_kubeconfig = self.dir / "kubeconfig"
        self.etcd = self.dir / "etcd"
        self.run = self.dir / "run"
        self.logs = self.dir / "logs"
        self.containerd = self.dir / "containerd"
        self.containerd_sock = self.containerd / "containerd.sock"
        self.containerd_config = self.containerd / "config.toml"
        self.kubelet_config = self.dir / "kubelet" / "config.yaml"
        self.cni_bin = self.dir / "cni" / "bin"
        self.cni_conf = self.dir / "cni" / "net.d"
        self.overlays = self.dir / "overlays"
        self.netns_dir = self.dir / "netns"
        self.pod_logs = self.dir / "pod-logs"
        self.volume_plugins = self.dir / "volume-plugins"
        self.kubectl_cache = self.dir / "kubectl-cache"
        self.sriovdp_config = self.dir / "sriovdp" / "config.json"
        self.pci_ids_home = self.dir / "sriovdp" / "home"
        self.pools = self.dir / "pools"
        self.faults = self.dir / "faults"
        self.hostfx = self.dir / "hostfx.json"
        self.manifests = self.dir / "manifests"
