"""The harness's state dir: pool records and the fake PCI tree of this node, nothing else.

Pool records are written atomically so a watcher reading them never sees half a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sriov_e2e.errors import BadInput
from sriov_e2e.model import Locator, LocatorKind, PoolSpec, VFSpec

ENV_STATE_DIR = "SRIOV_E2E_STATE_DIR"
DEFAULT_STATE_DIR = "/run/sriov-e2e"  # tmpfs: gone after a reboot, like the kernel objects it describes
PREFIX = "sriov-e2e"  # names and link aliases of everything the harness creates


def state_dir(override: str | None = None) -> Path:
    return Path(override or os.environ.get(ENV_STATE_DIR) or DEFAULT_STATE_DIR)


@dataclass(frozen=True)
class PoolRecord:
    """A pool this harness created: its spec plus what the VF backend needs to remove it."""

    spec: PoolSpec
    pci_bus: int
    flavor: str
    owned_links: tuple[str, ...]  # names of links the backend created on the node side, removed on destroy
    extra: dict[str, Any] = field(default_factory=dict)


def _spec_to_json(s: PoolSpec) -> dict[str, Any]:
    return {
        "pf_name": s.pf_name,
        "pf_pci_address": s.pf_pci_address,
        "backend": s.backend,
        "resource": s.resource,
        "totalvfs": s.totalvfs,
        "selector": dict(s.selector),
        "node_netns": s.node_netns,
        "vfs": [
            {"index": v.index, "pci_address": v.pci_address, "host_name": v.host_name,
             "locator": {"kind": v.locator.kind.value, "value": v.locator.value}}
            for v in s.vfs
        ],
    }


def _spec_from_json(d: dict[str, Any]) -> PoolSpec:
    return PoolSpec(
        pf_name=d["pf_name"],
        pf_pci_address=d["pf_pci_address"],
        backend=d["backend"],
        resource=d["resource"],
        totalvfs=int(d["totalvfs"]),
        selector=d.get("selector", {}),
        node_netns=d.get("node_netns"),
        vfs=tuple(
            VFSpec(int(v["index"]), v["pci_address"], v["host_name"],
                   Locator(LocatorKind(v["locator"]["kind"]), v["locator"]["value"]))
            for v in d["vfs"]
        ),
    )


class State:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.pools_dir = root / "pools"
        self.pci_root = root / "pci"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialize pool changes on this node (two `vfs create` at once must not pick the same bus)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _path(self, pf: str) -> Path:
        return self.pools_dir / f"{pf}.json"

    def save(self, rec: PoolRecord) -> None:
        self.pools_dir.mkdir(parents=True, exist_ok=True)
        body = {"spec": _spec_to_json(rec.spec), "pci_bus": rec.pci_bus, "flavor": rec.flavor,
                "owned_links": list(rec.owned_links), "extra": rec.extra}
        tmp = self._path(rec.spec.pf_name).with_suffix(".tmp")
        tmp.write_text(json.dumps(body, indent=2), encoding="utf-8")
        os.replace(tmp, self._path(rec.spec.pf_name))

    def load(self, pf: str) -> PoolRecord | None:
        p = self._path(pf)
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError) as e:
            raise BadInput(f"state: pool record {p} is corrupt: {e}") from None
        return PoolRecord(_spec_from_json(d["spec"]), int(d["pci_bus"]), d["flavor"],
                          tuple(d["owned_links"]), d.get("extra", {}))

    def all(self) -> list[PoolRecord]:
        if not self.pools_dir.is_dir():
            return []
        out = []
        for name in sorted(os.listdir(self.pools_dir)):
            if name.endswith(".json"):
                rec = self.load(name.removesuffix(".json"))
                if rec is not None:
                    out.append(rec)
        return out

    def remove(self, pf: str) -> None:
        self._path(pf).unlink(missing_ok=True)

    def remove_if_empty(self) -> None:
        """Drop the state dir once nothing is recorded in it (the lock file is ours too)."""
        if self.pools_dir.is_dir() and not os.listdir(self.pools_dir):
            self.pools_dir.rmdir()
        leftovers = set(os.listdir(self.root)) if self.root.is_dir() else None
        if leftovers is not None and leftovers <= {"lock", "watcher.pid", "watcher.log"}:
            for name in leftovers:
                (self.root / name).unlink()
            self.root.rmdir()
