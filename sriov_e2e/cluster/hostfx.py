"""Host side effects a local cluster cannot avoid, recorded before they happen and undone at `down`.

kubelet tunes kernel sysctls and adds iptables chains, and its pods live in cgroups; none of these can be
confined to the state dir, so the cluster records the host's values first and restores them, also after a crash
(the record survives in the state dir).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# what kubelet's setupKernelTunables writes (pkg/kubelet/cm/container_manager_linux.go) when protectKernelDefaults
# is false, and the forwarding switch the bridge CNI plugin turns on for its gateway
HOST_SYSCTLS = ("vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
                "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/ip_forward",
                "net/ipv6/conf/all/forwarding")
IPT_TABLES = ("filter", "nat", "mangle")
CGROUP_ROOT = Path("/sys/fs/cgroup")


LEDGER = ".host-sysctls.json"


@contextlib.contextmanager
def _ledger(root: Path) -> Iterator[Path]:
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / ".host-sysctls.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield root / LEDGER
    finally:
        os.close(fd)


def hold_sysctls(root: Path, cluster: str) -> None:
    """Record the host's sysctls before the first cluster changes them; later clusters only register.

    sysctls are host-global: two clusters saving and restoring their own "before" would race, so the values of
    the host without any cluster are kept once, with the clusters holding them.
    """
    with _ledger(root) as path:
        rec = load(path) or {"original": read_sysctls(), "holders": []}
        if cluster not in rec["holders"]:
            rec["holders"].append(cluster)
        save(path, rec)


def release_sysctls(root: Path, cluster: str) -> list[str]:
    """Unregister; the last cluster out restores the host's values. Returns what was restored."""
    if not (root / LEDGER).exists():
        return []
    with _ledger(root) as path:
        rec = load(path)
        holders = [h for h in rec.get("holders", []) if h != cluster]
        if holders:
            save(path, {**rec, "holders": holders})
            return []
        restored = restore_sysctls(rec.get("original", {}))
        path.unlink(missing_ok=True)
    (root / ".host-sysctls.lock").unlink(missing_ok=True)
    return restored


def read_sysctls() -> dict[str, str]:
    out = {}
    for key in HOST_SYSCTLS:
        try:
            out[key] = Path("/proc/sys", key).read_text().strip()
        except OSError:
            continue
    return out


def restore_sysctls(saved: dict[str, str]) -> list[str]:
    """Write back every saved value that changed; returns what was restored."""
    restored = []
    for key, value in saved.items():
        p = Path("/proc/sys", key)
        try:
            if p.read_text().strip() != value:
                p.write_text(value)
                restored.append(f"{key}={value}")
        except OSError:
            continue
    return restored


def _ipt(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, *args], capture_output=True, text=True)


def iptables_chains() -> dict[str, list[str]]:
    """Chain names per `<binary>/<table>` (iptables and ip6tables)."""
    out: dict[str, list[str]] = {}
    for binary in ("iptables", "ip6tables"):
        for table in IPT_TABLES:
            p = _ipt(f"{binary}-save", "-t", table)
            if p.returncode == 0:
                out[f"{binary}/{table}"] = sorted(line[1:].split()[0] for line in p.stdout.splitlines()
                                                  if line.startswith(":"))
    return out


def remove_new_chains(before: dict[str, list[str]]) -> list[str]:
    """Flush and delete chains that did not exist before (kubelet's KUBE-* canaries); never touch older ones."""
    removed = []
    now = iptables_chains()
    for key, chains in now.items():
        binary, table = key.split("/")
        new = [c for c in chains if c not in before.get(key, [])]
        for rule in _ipt(f"{binary}-save", "-t", table).stdout.splitlines():
            tokens = shlex.split(rule) if rule.startswith("-A ") else []
            target = tokens[tokens.index("-j") + 1] if "-j" in tokens[:-1] else None
            if target in new:  # drop jumps into the new chains first, from whichever chain holds them
                _ipt(binary, "-t", table, "-D", *tokens[1:])
        for chain in new:
            _ipt(binary, "-t", table, "-F", chain)
        for chain in new:
            if _ipt(binary, "-t", table, "-X", chain).returncode == 0:
                removed.append(f"{key}:{chain}")
    return removed


def _hierarchies() -> list[Path]:
    """Where cgroup trees are rooted: the unified root on cgroup v2, else every v1 hierarchy."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return [CGROUP_ROOT]
    return sorted(CGROUP_ROOT.iterdir()) if CGROUP_ROOT.is_dir() else []


def create_cgroup_tree(name: str) -> None:
    """`<hierarchy>/<name>` in every hierarchy: kubelet's cgroupRoot must exist beforehand."""
    for hierarchy in _hierarchies():
        if hierarchy.is_symlink() or not (hierarchy / "cgroup.procs").exists():
            continue
        top = hierarchy / name
        top.mkdir(exist_ok=True)
        for knob in ("cpuset.cpus", "cpuset.mems"):  # a new cpuset starts empty and cannot take tasks
            if (top / knob).exists() and not (top / knob).read_text().strip():
                (top / knob).write_text((hierarchy / knob).read_text())


def cgroup_pids(name: str) -> set[int]:
    """Every process in the cgroup subtree `name` (the pids hierarchy sees them all on cgroup v1)."""
    found: set[int] = set()
    for hierarchy in _hierarchies():
        top = hierarchy / name
        for dirpath, _, files in os.walk(top):
            if "cgroup.procs" in files:
                try:
                    found.update(int(x) for x in Path(dirpath, "cgroup.procs").read_text().split())
                except OSError:
                    continue
    return found


def remove_cgroup_tree(name: str) -> list[str]:
    """rmdir `/sys/fs/cgroup/<controller>/<name>` bottom-up in every hierarchy (after its processes are gone)."""
    removed: list[str] = []
    for hierarchy in _hierarchies():
        top = hierarchy / name
        if not top.is_dir() or top.is_symlink():
            continue
        for dirpath, _, _ in sorted(os.walk(top), key=lambda t: -t[0].count("/")):
            try:
                os.rmdir(dirpath)
            except OSError:
                continue
        if not top.exists():
            removed.append(str(top))
    return removed


def save(path: Path, record: dict[str, Any]) -> None:
    path.write_text(json.dumps(record, indent=2), encoding="utf-8")


def load(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return data
