"""A snapshot of what a harness run could leave behind on the host, and the difference between two."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

from sriov_e2e.cluster.hostfx import read_sysctls
from sriov_e2e.netns import discover


@dataclass(frozen=True)
class HostSnapshot:
    netns: frozenset[str]  # `ip netns` names and other nsfs mount points
    links: frozenset[str]  # link names in this process's netns
    mounts: frozenset[str]  # mount points in this process's mount namespace
    processes: frozenset[tuple[int, str]]  # (pid, cmdline) of processes that could be ours
    iptables: frozenset[str] = frozenset()  # iptables-save lines (rules and chains, counters dropped)
    sysctls: frozenset[str] = frozenset()  # key=value of the sysctls a node touches
    cgroups: frozenset[str] = frozenset()  # top-level dirs of every cgroup hierarchy
    files: frozenset[str] = frozenset()  # entries of the dirs a node would write to on a careless setup

    def diff(self, after: HostSnapshot) -> list[str]:
        """What differs from `self` to `after`, one line per kind; empty when the host is as it was."""
        out = []
        for kind in ("netns", "links", "mounts", "processes", "iptables", "sysctls", "cgroups", "files"):
            before_set, after_set = getattr(self, kind), getattr(after, kind)
            added, removed = sorted(after_set - before_set), sorted(before_set - after_set)
            if added:
                out.append(f"{kind} added: {added}")
            if removed:
                out.append(f"{kind} removed: {removed}")
        return out


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _ours(pid: str, cmd: str, sid: int) -> bool:
    """A process that could be the harness's: in our session, or naming the harness on its command line."""
    if "sriov_e2e" in cmd or "sriov-e2e" in cmd:
        return True
    try:
        return os.getsid(int(pid)) == sid
    except OSError:
        return False


WATCHED_DIRS = ("/var/lib", "/var/log", "/etc", "/etc/cni", "/opt", "/opt/cni", "/run", "/var/run/netns",
                "/var/lib/kubelet", "/var/lib/cni", "/var/tmp/sriov-e2e", "/usr/libexec", "/root", "/root/.kube",
                "/var/log/containers", "/var/log/pods")


def _iptables() -> frozenset[str]:
    out: set[str] = set()
    for binary in ("iptables-save", "ip6tables-save"):
        try:
            text = subprocess.run([binary], capture_output=True, text=True).stdout
        except FileNotFoundError:
            continue
        out.update(f"{binary}: {line.split(' [')[0]}" for line in text.splitlines()
                   if line.startswith((":", "-A", "*")))
    return frozenset(out)


def _sysctls() -> frozenset[str]:
    return frozenset(f"{k}={v}" for k, v in read_sysctls().items())


def _cgroups() -> frozenset[str]:
    root = "/sys/fs/cgroup"
    out: set[str] = set()
    for h in os.listdir(root) if os.path.isdir(root) else []:
        p = os.path.join(root, h)
        if os.path.isdir(p) and not os.path.islink(p):
            out.update(f"{h}/{d}" for d in os.listdir(p) if os.path.isdir(os.path.join(p, d)))
    return frozenset(out)


def _files() -> frozenset[str]:
    out: set[str] = set()
    for d in WATCHED_DIRS:
        try:
            out.update(f"{d}/{e}" for e in os.listdir(d))
        except OSError:
            out.add(f"{d} (absent)")
    return frozenset(out)


def snapshot(exclude_pids: frozenset[int] = frozenset()) -> HostSnapshot:
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    names = frozenset(line.split(":")[1].strip().split("@")[0] for line in links.splitlines() if ":" in line)
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        mounts = frozenset(line.split()[4] for line in f)
    sid = os.getsid(0)
    me = {os.getpid(), os.getppid(), *exclude_pids}
    procs = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) in me:
            continue
        cmd = _cmdline(pid)
        if cmd and _ours(pid, cmd, sid) and not cmd.startswith(("ps ", "ip ")):
            procs.add((int(pid), cmd))
    netns = frozenset(ref.name or m for ref in discover() for m in ref.mounts)
    return HostSnapshot(netns, names, mounts, frozenset(procs), _iptables(), _sysctls(), _cgroups(), _files())
