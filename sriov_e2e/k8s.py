"""The one place that talks to the Kubernetes API: domain calls for the harness and the suites.

Everything else asks questions in the suite's terms (allocatable of a resource on a node, a pod's network status)
and never touches the client library.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from sriov_e2e.errors import HarnessError

NETWORK_STATUS = "k8s.v1.cni.cncf.io/network-status"
NETWORKS = "k8s.v1.cni.cncf.io/networks"


@dataclass(frozen=True)
class NodeCounts:
    capacity: int
    allocatable: int


def _quantity(v: str | None) -> int:
    return int(v) if v else 0


class Kube:
    def __init__(self, kubeconfig: Path, kubectl: Path | None = None, cache_dir: Path | None = None) -> None:
        if not kubeconfig.is_file():
            raise HarnessError(f"kubeconfig {kubeconfig}: not found")
        self.kubeconfig = kubeconfig
        self.kubectl_bin = kubectl
        # kubectl's discovery cache defaults to ~/.kube/cache: keep it with the cluster
        self.cache_dir = cache_dir or kubeconfig.parent / "kubectl-cache"
        cfg = client.Configuration()
        try:
            config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)  # type: ignore[no-untyped-call]
        except Exception as e:  # the loader raises several unrelated types for a bad file
            raise HarnessError(f"kubeconfig {kubeconfig}: {e}") from None
        self.api = client.ApiClient(cfg)
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)

    def close(self) -> None:
        self.api.close()  # type: ignore[no-untyped-call]

    # ---- nodes -------------------------------------------------------------------------------------------------

    def node_ready(self, name: str) -> tuple[bool, str]:
        """(Ready?, what the Ready condition says); (False, "not registered") when the node does not exist."""
        try:
            node = self.core.read_node(name)
        except ApiException as e:
            if e.status == 404:
                return False, "not registered"
            raise
        for c in (node.status.conditions or []) if node.status else []:
            if c.type == "Ready":
                return c.status == "True", f"Ready={c.status} ({c.reason}: {c.message})"
        return False, "no Ready condition yet"

    def resource_counts(self, node: str, resource: str) -> NodeCounts:
        st = self.core.read_node(node).status
        if st is None:
            return NodeCounts(0, 0)
        return NodeCounts(_quantity((st.capacity or {}).get(resource)), _quantity((st.allocatable or {}).get(resource)))

    def requested_on_node(self, node: str, resource: str) -> int:
        """Sum of `resource` requests of the node's pods that still hold resources (not Succeeded/Failed)."""
        total = 0
        for pod in self.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items:
            if (pod.status and pod.status.phase in ("Succeeded", "Failed")) or pod.spec is None:
                continue
            for c in (pod.spec.containers or []) + (pod.spec.init_containers or []):
                total += _quantity(((c.resources and c.resources.requests) or {}).get(resource))
        return total

    # ---- pods --------------------------------------------------------------------------------------------------

    def pod(self, namespace: str, name: str) -> Any | None:
        try:
            return self.core.read_namespaced_pod(name, namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def delete_pod(self, namespace: str, name: str, grace: int | None = None) -> None:
        try:
            self.core.delete_namespaced_pod(name, namespace, grace_period_seconds=grace)
        except ApiException as e:
            if e.status != 404:
                raise

    def evict(self, namespace: str, name: str) -> None:
        """The Eviction API, as `kubectl drain` uses it."""
        body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=namespace))
        self.core.create_namespaced_pod_eviction(name, namespace, body)

    def network_status(self, namespace: str, name: str) -> list[dict[str, Any]]:
        pod = self.pod(namespace, name)
        raw = ((pod.metadata.annotations or {}) if pod is not None else {}).get(NETWORK_STATUS)
        return list(json.loads(raw)) if raw else []

    def events_for(self, namespace: str, name: str) -> list[str]:
        evs = self.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
        return [f"{e.type} {e.reason}: {e.message}" for e in evs]

    # ---- manifests ---------------------------------------------------------------------------------------------

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        if self.kubectl_bin is None:
            raise HarnessError("kubectl: no binary configured (make tools)")
        p = subprocess.run([str(self.kubectl_bin), "--kubeconfig", str(self.kubeconfig), "--cache-dir",
                            str(self.cache_dir), *args], input=stdin,
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise HarnessError(f"kubectl {' '.join(args)}: {p.stderr.strip()}")
        return p.stdout

    def kubectl_apply(self, manifest: Mapping[str, Any] | list[Mapping[str, Any]]) -> None:
        docs = manifest if isinstance(manifest, list) else [manifest]
        self.kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))
