"""What this host can do, each "no" with its reason. Probes that change the host do so in a throwaway netns."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sriov_e2e.state import PREFIX
from sriov_e2e.vfbackends import BACKENDS, PREFERENCE

CAP_SYS_RESOURCE = 24


@dataclass(frozen=True)
class Capability:
    name: str
    ok: bool
    detail: str  # the version/path found, or why not

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def _run(argv: list[str], timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def _first_line(s: str) -> str:
    return (s.strip().splitlines() or [""])[0]


@contextlib.contextmanager
def _scratch_netns() -> Iterator[str | None]:
    """A throwaway named netns (removed on exit), or None when one cannot be made."""
    name = f"{PREFIX}-probe-{uuid.uuid4().hex[:8]}"
    if _run(["ip", "netns", "add", name]).returncode != 0:
        yield None
        return
    try:
        yield name
    finally:
        _run(["ip", "netns", "delete", name])


def _link_kind(ns: str | None, kind: str) -> tuple[bool, str]:
    if ns is None:
        return False, "no scratch netns to try it in"
    args = ["peer", "name", "probe-peer"] if kind == "veth" else []
    p = _run(["ip", "-n", ns, "link", "add", f"probe-{kind}", "type", kind, *args])
    if p.returncode == 0:
        return True, f"ip link add type {kind} works"
    return False, f"kernel refuses {kind} links: {_first_line(p.stderr)}"


def _root() -> Capability:
    ok = os.geteuid() == 0
    return Capability("root", ok, "uid 0" if ok else f"uid {os.geteuid()}: netns, links and mounts need root")


def _linux() -> Capability:
    ok = platform.system() == "Linux"
    return Capability("linux", ok, platform.release() if ok else f"{platform.system()} is not Linux")


def _mount_ns() -> Capability:
    p = _run(["unshare", "--mount", "--propagation", "private", "--", "/bin/true"])
    return Capability("mount-namespace", p.returncode == 0,
                      "unshare --mount works" if p.returncode == 0 else _first_line(p.stderr) or "unshare failed")


def _netdevsim() -> Capability:
    ok = os.path.exists("/sys/bus/netdevsim/new_device")
    return Capability("netdevsim", ok, "/sys/bus/netdevsim present" if ok
                      else "no /sys/bus/netdevsim: kernel built without CONFIG_NETDEVSIM")


def _cap_sys_resource() -> Capability:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            bnd = next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))
    except (OSError, StopIteration):
        return Capability("cap-sys-resource", False, "cannot read CapBnd from /proc/self/status")
    ok = bool(bnd >> CAP_SYS_RESOURCE & 1)
    return Capability("cap-sys-resource", ok, "in the bounding set" if ok else
                      "missing from the bounding set: containerd needs restrict_oom_score_adj, docker a runc wrapper")


def _binary(name: str, version_args: list[str], why: str) -> Capability:
    path = shutil.which(name)
    if path is None:
        return Capability(name, False, f"not on PATH ({why})")
    p = _run([path, *version_args])
    return Capability(name, p.returncode == 0, f"{path}: {_first_line(p.stdout or p.stderr)}")


def _cni_plugins() -> Capability:
    for d in ("/usr/lib/cni", "/opt/cni/bin"):
        if os.access(os.path.join(d, "host-device"), os.X_OK):
            return Capability("cni-plugins", True, f"host-device in {d}")
    return Capability("cni-plugins", False, "no host-device plugin in /usr/lib/cni or /opt/cni/bin "
                      "(apt-get install containernetworking-plugins)")


def _cgroup() -> Capability:
    v2_only = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    return Capability("cgroup", True, "v2 (unified)" if v2_only else "v1 (kubelet <= 1.34 accepts it)")


def probe() -> list[Capability]:
    """Run every probe; never raises for a missing feature."""
    caps = [_linux(), _root()]
    with _scratch_netns() as ns:
        caps.append(Capability("netns", ns is not None, "ip netns add works" if ns else "cannot create a netns"))
        for kind in ("veth", "dummy", "bridge"):
            caps.append(Capability(kind, *_link_kind(ns, kind)))
    checks: list[Callable[[], Capability]] = [
        _mount_ns, _netdevsim, _cap_sys_resource, _cgroup, _cni_plugins,
        lambda: _binary("containerd", ["--version"], "needed by the local backend"),
        lambda: _binary("dockerd", ["--version"], "needed by the kind backend"),
        lambda: _binary("kind", ["version"], "needed by the kind backend; make tools builds it"),
        lambda: _binary("go", ["version"], "needed to build the pinned toolchain"),
    ]
    caps.extend(c() for c in checks)
    return caps


def vf_backend_choice(caps: list[Capability]) -> tuple[str | None, str]:
    """The most faithful VF backend this host supports, with the reason for the choice."""
    have = {c.name: c.ok for c in caps}
    skipped: list[str] = []
    for name in PREFERENCE:
        reason = BACKENDS[name].unavailable_reason("") if have.get(name) else next(
            c.detail for c in caps if c.name == name)
        if reason is None:
            return name, f"{name} ({'; '.join(skipped) or 'most faithful available'})"
        skipped.append(f"{name}: {reason}")
    return None, "; ".join(skipped)
