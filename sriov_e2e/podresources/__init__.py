"""kubelet's pod-resources API (v1 List): which pod and container hold which device IDs of which resource.

api.proto is upstream's k8s.io/kubelet pkg/apis/podresources/v1/api.proto (v0.34.4, Apache-2.0) with the gogo
import and options removed; api_pb2*.py are generated from it by grpcio-tools (`make podresources-stubs`).
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from sriov_e2e.podresources import api_pb2, api_pb2_grpc


@dataclass(frozen=True)
class Assignment:
    namespace: str
    pod: str
    container: str
    resource: str
    device_ids: tuple[str, ...]


def list_assignments(socket_path: str, timeout: float = 10.0) -> list[Assignment]:
    """Every device assignment kubelet reports, one per (pod, container, resource)."""
    with grpc.insecure_channel(f"unix://{socket_path}") as channel:
        stub = api_pb2_grpc.PodResourcesListerStub(channel)  # type: ignore[no-untyped-call]
        resp = stub.List(api_pb2.ListPodResourcesRequest(), timeout=timeout)
    out = []
    for pod in resp.pod_resources:
        for c in pod.containers:
            for dev in c.devices:
                out.append(Assignment(pod.namespace, pod.name, c.name, dev.resource_name, tuple(dev.device_ids)))
    return out
