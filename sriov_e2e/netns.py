"""Find every network namespace on the host and who holds it.

A netns lives while a process is in it or a bind mount (nsfs) pins it. A VF in a netns that only a mount pins (a
sandbox whose processes are gone) is leaked; one in a netns a live process holds is in use.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

NAMED_NETNS_DIRS = ("/run/netns", "/var/run/netns")


@dataclass(frozen=True)
class NetnsRef:
    inode: int
    dev: int
    mounts: tuple[str, ...] = ()  # nsfs bind mounts pinning it (e.g. /run/netns/NAME), as seen in `mount_root`
    holders: tuple[int, ...] = ()  # PIDs whose net namespace it is
    mount_root: str = ""  # "" for this process's mount namespace, else /proc/<pid>/root of another one

    @property
    def name(self) -> str | None:
        for m in self.mounts:
            if os.path.dirname(m) in NAMED_NETNS_DIRS:
                return os.path.basename(m)
        return None

    @property
    def label(self) -> str:
        """Human name: the `ip netns` name, else the pinning mount, else the first holder PID."""
        if self.name is not None:
            return self.name
        if self.mounts:
            return self.mounts[0]
        return f"pid:{self.holders[0]}" if self.holders else f"net:[{self.inode}]"

    @property
    def path(self) -> str:
        """A path that opens this netns from this process."""
        if self.mounts:
            return self.mount_root + self.mounts[0]
        return f"/proc/{self.holders[0]}/ns/net"


@dataclass
class _Acc:
    mounts: list[str] = field(default_factory=list)
    holders: list[int] = field(default_factory=list)
    root: str = ""


def _unescape_mount_path(p: str) -> str:
    # /proc/self/mountinfo escapes space, tab, newline and backslash as octal
    return p.encode().decode("unicode_escape") if "\\" in p else p


def _nsfs_mounts(mountinfo: str) -> Iterable[str]:
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) < 5 or not right.startswith("nsfs "):
            continue
        if fields[3].startswith("net:["):
            yield _unescape_mount_path(fields[4])


def discover(proc: str = "/proc", mount_ns_pid: int | None = None) -> list[NetnsRef]:
    """Every netns pinned by a mount or held by a process, de-duplicated by inode.

    `mount_ns_pid`: also read the nsfs mounts of that process's mount namespace (a node whose runtime pins sandbox
    netns in a private mount namespace); they are opened through /proc/<pid>/root.
    """
    acc: dict[tuple[int, int], _Acc] = {}
    roots = [("", "self")] + ([(f"{proc}/{mount_ns_pid}/root", str(mount_ns_pid))] if mount_ns_pid else [])
    for root, who in roots:
        try:
            with open(f"{proc}/{who}/mountinfo", encoding="utf-8") as f:
                mountinfo = f.read()
        except OSError:
            continue
        for path in _nsfs_mounts(mountinfo):
            try:
                st = os.stat(root + path)
            except OSError:
                continue
            a = acc.setdefault((st.st_dev, st.st_ino), _Acc())
            if not a.mounts:
                a.root = root
            if a.root == root:
                a.mounts.append(path)
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            st = os.stat(f"{proc}/{entry}/ns/net")
        except OSError:  # the process exited or is a kernel thread without a readable ns link
            continue
        acc.setdefault((st.st_dev, st.st_ino), _Acc()).holders.append(int(entry))
    return [
        NetnsRef(inode=ino, dev=dev, mounts=tuple(sorted(set(a.mounts))), holders=tuple(sorted(a.holders)),
                 mount_root=a.root)
        for (dev, ino), a in sorted(acc.items(), key=lambda kv: kv[0][1])
    ]


def inode_of(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def resolve_node_netns(spec: str | None) -> str:
    """Path of the node's netns: None = this process's netns, a bare name = `ip netns` name, else a path."""
    if spec is None:
        return "/proc/self/ns/net"
    if "/" in spec:
        return spec
    for d in NAMED_NETNS_DIRS:
        p = os.path.join(d, spec)
        if os.path.exists(p):
            return p
    return os.path.join(NAMED_NETNS_DIRS[0], spec)
