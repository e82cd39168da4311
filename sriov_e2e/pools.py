"""Fake pools on this host: create (VF backend + fake PCI tree + record), destroy, keep `net/` truthful."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sriov_e2e import netlink, netns, vfbackends
from sriov_e2e.errors import BadInput, HarnessError, Unsupported
from sriov_e2e.fake_pci import FLAVORS, FakePciTree
from sriov_e2e.inventory import NodeView, locate, read_node
from sriov_e2e.model import PoolSpec, VFSpec
from sriov_e2e.state import PoolRecord, State
from sriov_e2e.timeouts import TIMEOUTS
from sriov_e2e.undo import UndoStack
from sriov_e2e.wait import NotYet, wait_until

DEFAULT_RESOURCE = "openshift.io/mellanoxnics"
FIRST_BUS = 0xFE  # fake functions live on buses no real device uses, counting down


def _real_buses(devices: Path = Path("/sys/bus/pci/devices")) -> set[int]:
    return {int(n.split(":")[1], 16) for n in os.listdir(devices)} if devices.is_dir() else set()


def _pick_bus(tree: FakePciTree) -> int:
    used = tree.used_buses() | _real_buses()
    for bus in range(FIRST_BUS, 0x80, -1):
        if bus not in used:
            return bus
    raise HarnessError("fake PCI: no free bus between 80 and fe")


def check_root() -> None:
    if os.geteuid() != 0:
        raise HarnessError("fake VF pools need root (netlink and mounts): run as root")


def create(
    state: State,
    pf: str,
    count: int,
    backend_name: str,
    resource: str = DEFAULT_RESOURCE,
    flavor: str = "mlx5",
    node_netns: str | None = None,
    watch: bool = True,
) -> PoolRecord:
    """Create a fake PF with `count` VFs, its fake PCI functions and its record; all or nothing."""
    check_root()
    backend = vfbackends.get(backend_name)
    if flavor not in FLAVORS:
        raise BadInput(f"PCI flavor {flavor!r}: unknown (choose from {', '.join(FLAVORS)})")
    if not 1 <= count <= backend.max_vfs:
        raise BadInput(f"--count {count}: out of range, the {backend.name} backend allows 1..{backend.max_vfs}")
    if "/" not in resource or not resource.split("/", 1)[1]:
        raise BadInput(f"--resource {resource!r}: want PREFIX/NAME, e.g. {DEFAULT_RESOURCE}")
    node_path = netns.resolve_node_netns(node_netns)
    if not os.path.exists(node_path):
        raise BadInput(f"node netns {node_netns}: does not exist")
    reason = backend.unavailable_reason(node_path)
    if reason:
        raise Unsupported(f"VF backend {backend.name}: {reason}")
    tree = FakePciTree(state.pci_root)
    try:
        rec = _create_locked(state, tree, pf, count, backend, resource, flavor, node_netns, node_path)
    except BaseException:
        state.remove_if_empty()  # a refused or interrupted create leaves no state dir behind either
        raise
    if watch:
        try:
            start_watcher(state)
        except BaseException:
            destroy(state, pf)
            raise
    return rec


def _create_locked(
    state: State, tree: FakePciTree, pf: str, count: int, backend: vfbackends.VFBackend, resource: str,
    flavor: str, node_netns: str | None, node_path: str,
) -> PoolRecord:
    # the netlink handle outlives the undo stack: undo steps need it after a failure
    with state.locked(), netlink.ipr_in(node_path) as ipr, UndoStack() as undo:
        if state.load(pf) is not None:
            raise BadInput(f"PF {pf}: a pool with this name already exists (sriov-e2e vfs destroy --pf {pf})")
        created = backend.create(ipr, pf, count, undo)
        undo.push(f"delete links of {pf}", lambda: vfbackends.delete_owned(ipr, pf, created.owned_links))
        bus = _pick_bus(tree)
        pf_addr, vf_addrs = tree.add_pf(bus=bus, flavor=FLAVORS[flavor], pf_netdev=pf,
                                        vf_netdevs=[v.host_name for v in created.vfs], totalvfs=count)
        undo.push(f"remove fake PCI bus {bus:02x}", lambda: tree.remove_bus(bus))
        spec = PoolSpec(
            pf_name=pf, pf_pci_address=pf_addr, backend=backend.name, resource=resource, totalvfs=count,
            vfs=tuple(VFSpec(v.index, a, v.host_name, v.locator) for v, a in zip(created.vfs, vf_addrs,
                                                                                 strict=True)),
            selector={"pfNames": [pf], "vendors": [FLAVORS[flavor].vendor],
                      "devices": [FLAVORS[flavor].vf_device], "drivers": [FLAVORS[flavor].vf_driver]},
            node_netns=node_netns,
        )
        rec = PoolRecord(spec, bus, flavor, created.owned_links)
        state.save(rec)
        undo.discard()  # from here on the record owns it all
    return rec


def destroy(state: State, pf: str) -> None:
    """Remove exactly what `create` made for `pf`: links (wherever the VFs are), fake PCI functions, record."""
    check_root()
    if state.load(pf) is None:  # checked before locking: locking creates the state dir
        raise BadInput(f"PF {pf}: no pool of this name was created by sriov-e2e (see sriov-e2e inspect)")
    with state.locked():
        rec = state.load(pf)
        if rec is None:
            raise BadInput(f"PF {pf}: destroyed by someone else meanwhile")
        node_path = netns.resolve_node_netns(rec.spec.node_netns)
        if os.path.exists(node_path):
            with netlink.ipr_in(node_path) as ipr:
                vfbackends.delete_owned(ipr, pf, rec.owned_links)
        FakePciTree(state.pci_root).remove_bus(rec.pci_bus)
        state.remove(pf)
        if not state.all():
            stop_watcher(state)
        state.remove_if_empty()


def set_pf_link(state: State, pf: str, up: bool) -> None:
    rec = state.load(pf)
    if rec is None:
        raise BadInput(f"PF {pf}: no pool of this name was created by sriov-e2e")
    with netlink.ipr_in(netns.resolve_node_netns(rec.spec.node_netns)) as ipr:
        vfbackends.get(rec.spec.backend).set_pf_link(ipr, pf, rec.owned_links, up)


def sync_fake_net(state: State, view: NodeView | None = None) -> int:
    """Make each fake VF's `net/` list its netdev only while it is in the node netns, as sysfs does on hardware.

    Returns how many entries changed.
    """
    recs = state.all()
    if not recs:
        return 0
    view = view or read_node(recs[0].spec.node_netns)
    tree = FakePciTree(state.pci_root)
    changed = 0
    for rec in recs:
        for vf in rec.spec.vfs:
            found = locate(vf, view)
            on_node = found is not None and found[0].is_node
            changed += tree.set_netdev(vf.pci_address, found[1].name if found and on_node else None)
    return changed


WATCHER_PID = "watcher.pid"


def _watcher_pid(state: State) -> int | None:
    """PID of this state dir's watcher if it is alive and really ours (checked by its command line)."""
    try:
        pid = int((state.root / WATCHER_PID).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    ours = "sriov_e2e" in cmdline and "fakesys watch" in cmdline and str(state.root) in cmdline
    return pid if ours else None


def start_watcher(state: State) -> int:
    """Start (once per state dir) the process that keeps fake `net/` entries truthful; returns its PID.

    `setsid -f` detaches it (its own session, reparented to init), so it outlives this command; it writes its own
    PID file, which `stop_watcher` uses.
    """
    pid = _watcher_pid(state)
    if pid is not None:
        return pid
    with open(state.root / "watcher.log", "ab") as logf:
        subprocess.run(["setsid", "-f", sys.executable, "-m", "sriov_e2e", "--state-dir", str(state.root),
                        "fakesys", "watch"], stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, check=True)

    def started() -> int:
        found = _watcher_pid(state)
        if found is None:
            raise NotYet(f"no live watcher in {state.root / WATCHER_PID} (log: {state.root / 'watcher.log'})")
        return found

    return wait_until(started, timeout=TIMEOUTS.process_exit, what="fake sysfs watcher")


def stop_watcher(state: State) -> None:
    pid = _watcher_pid(state)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)

        def gone() -> None:
            if _alive(pid):
                raise NotYet(f"still running after SIGTERM (state {_proc_state(pid)})")

        wait_until(gone, timeout=TIMEOUTS.process_exit, what=f"fake sysfs watcher pid {pid}")
    (state.root / WATCHER_PID).unlink(missing_ok=True)
    (state.root / "watcher.log").unlink(missing_ok=True)


def _proc_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (FileNotFoundError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
    except ChildProcessError:
        pass
    return _proc_state(pid) not in (None, "Z")
