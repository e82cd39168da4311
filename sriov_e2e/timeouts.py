"""Every bound the harness waits for, in one place; each overridable by env `SRIOV_E2E_TIMEOUT_<NAME>` (seconds)."""

from __future__ import annotations

import dataclasses
import os

from sriov_e2e.errors import BadInput


@dataclasses.dataclass(frozen=True)
class Timeouts:
    poll: float = 0.2  # interval between checks
    process_exit: float = 10.0  # a process we signalled must be gone
    fake_sysfs_sync: float = 5.0  # a VF's fake net/ entry follows its netdev
    cni: float = 30.0  # one CNI plugin call
    vf_state: float = 10.0  # a VF reaches the state a step expects
    component_ready: float = 60.0  # etcd, apiserver, containerd answer after start
    node_ready: float = 90.0  # kubelet registered the node and it is Ready
    pool_advertised: float = 60.0  # node allocatable for the VF resource equals the pool size
    pod_running: float = 60.0  # a pod with a VF reaches Running
    pod_deleted: float = 60.0  # a deleted pod is gone from the API

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Timeouts:
        env = dict(os.environ if env is None else env)
        values: dict[str, float] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"SRIOV_E2E_TIMEOUT_{f.name.upper()}")
            if raw is None:
                continue
            try:
                values[f.name] = float(raw)
            except ValueError:
                raise BadInput(f"SRIOV_E2E_TIMEOUT_{f.name.upper()}={raw!r}: want seconds as a number") from None
            if values[f.name] <= 0:
                raise BadInput(f"SRIOV_E2E_TIMEOUT_{f.name.upper()}={raw!r}: want a positive number of seconds")
        return cls(**values)


TIMEOUTS = Timeouts.from_env()
