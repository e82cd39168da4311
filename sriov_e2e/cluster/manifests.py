"""Config files and manifests of the local cluster, as data (rendered by the backend, read by tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sriov_e2e.cluster.layout import LocalSettings
from sriov_e2e.state import PoolRecord


def containerd_config(*, root: Path, state: Path, sock: Path, sandbox_image: str, cni_bin: Path,
                      cni_conf: Path) -> str:
    # restrict_oom_score_adj: no process here holds CAP_SYS_RESOURCE, so the sandbox's -998 cannot be set.
    # opt path and runc root: their defaults (/opt/containerd, /run/containerd/runc) are outside the state dir.
    return f"""version = 2
root = "{root}"
state = "{state}"

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"

[debug]
  address = "{sock}.debug"

[plugins."io.containerd.internal.v1.opt"]
  path = "{root.parent / 'opt'}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{root.parent / 'runc'}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{cni_conf}"
    max_conf_num = 1
"""


def bridge_conf(bridge: str, subnet: str) -> dict[str, Any]:
    """The cluster network: pods' eth0 on a node-local bridge; no masquerade (no traffic leaves the host)."""
    return {"cniVersion": "0.4.0", "name": "sriov-e2e-pods", "type": "bridge", "bridge": bridge,
            "isGateway": True, "ipMasq": False,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]], "routes": [{"dst": "0.0.0.0/0"}]}}


def multus_conf(*, kubeconfig: Path, bin_dir: Path, log: Path, delegate: dict[str, Any]) -> dict[str, Any]:
    return {"cniVersion": "0.4.0", "name": "multus-cni-network", "type": "multus", "kubeconfig": str(kubeconfig),
            "binDir": str(bin_dir), "logFile": str(log), "logLevel": "verbose", "delegates": [delegate]}


def kubelet_config(s: LocalSettings, *, pki: Path, sock: Path, pod_logs: Path, volume_plugins: Path
                   ) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "port": s.kubelet_port,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": s.kubelet_healthz_port,
        "readOnlyPort": 0,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(pki / "ca.crt")}},
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{s.cgroup}",  # every pod under one harness-named cgroup, removed at down
        "cgroupsPerQOS": True,
        "failCgroupV1": False,  # our machines are cgroup v1
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{sock}",
        "podLogsDir": str(pod_logs),
        "volumePluginDir": str(volume_plugins),  # default /usr/libexec/kubernetes/...: created on the host
        "makeIPTablesUtilChains": False,
        "imageGCHighThresholdPercent": 100,  # images cannot be pulled again here: never collect them
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                         "nodefs.inodesFree": "1%"},
        "serializeImagePulls": False,
        "resolvConf": "/etc/resolv.conf",
        "registerNode": True,
    }


def nad_crd() -> dict[str, Any]:
    """The NetworkAttachmentDefinition CRD as Multus' deployment manifests define it."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "network-attachment-definitions.k8s.cni.cncf.io"},
        "spec": {
            "group": "k8s.cni.cncf.io",
            "scope": "Namespaced",
            "names": {"plural": "network-attachment-definitions", "singular": "network-attachment-definition",
                      "kind": "NetworkAttachmentDefinition", "shortNames": ["net-attach-def"]},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                               "metadata": {"type": "object"},
                               "spec": {"type": "object", "properties": {"config": {"type": "string"}}}}}}}],
        },
    }


# host-local reservations on the node's tmpfs: a reboot frees them with the pods (on a disk dataDir, the
# default, a node that dies without CNI DEL keeps them reserved forever)
IPAM_DATA_DIR = "/run/cni-ipam"


def nad(name: str, namespace: str, resource: str, subnet: str) -> dict[str, Any]:
    """The VF network: host-device moves the VF Multus names by PCI address (deviceID from the device plugin)."""
    config = {"cniVersion": "0.4.0", "name": name, "type": "host-device",
              "ipam": {"type": "host-local", "dataDir": IPAM_DATA_DIR, "ranges": [[{"subnet": subnet}]]}}
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": namespace,
                         "annotations": {"k8s.v1.cni.cncf.io/resourceName": resource}},
            "spec": {"config": json.dumps(config)}}


def sriovdp_config(resource_name: str, prefix: str, pool: PoolRecord) -> dict[str, Any]:
    # the pinned sriovdp takes one selector object per resource (newer releases also accept a list)
    sel = dict(pool.spec.selector)
    return {"resourceList": [{"resourceName": resource_name, "resourcePrefix": prefix, "selectors": sel}]}
