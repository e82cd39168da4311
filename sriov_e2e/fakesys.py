"""Show the fake PCI tree to one process only, and keep its `net/` entries truthful.

`exec_argv` runs a command in a private mount namespace with the node's fake tree bound on /sys/bus/pci; the
mount dies with the process, the host's /sys is never touched. `write_wrapper` makes a CNI-plugin-shaped
executable that does the same for an upstream binary. `watch` follows link events in the node netns and updates
each VF's `net/` as it leaves and returns.
"""

from __future__ import annotations

import logging
import os
import select
import shlex
import signal
import time
from pathlib import Path

from sriov_e2e import netlink, netns, pools
from sriov_e2e.errors import HarnessError
from sriov_e2e.state import State

log = logging.getLogger(__name__)
SYS_BUS_PCI = "/sys/bus/pci"
_MOUNT_THEN_EXEC = 'mount --bind "$0" ' + SYS_BUS_PCI + ' && exec "$@"'


def exec_argv(pci_root: Path, argv: list[str]) -> list[str]:
    """argv that runs `argv` seeing `pci_root` as /sys/bus/pci (private mount namespace, no propagation)."""
    if not (pci_root / "devices").is_dir():
        raise HarnessError(f"fake PCI tree {pci_root}: missing (create a pool first: sriov-e2e vfs create)")
    return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", _MOUNT_THEN_EXEC,
            str(pci_root), *argv]


def write_wrapper(dest: Path, upstream: Path, pci_root: Path, fail_del_flag: Path | None = None) -> None:
    """An executable at `dest` that runs `upstream` with the same args, stdin and env under the fake tree.

    With `fail_del_flag`: while that file exists, every CNI DEL fails (fault injection), leaving the VF where the
    pod left it.
    """
    if not os.access(upstream, os.X_OK):
        raise HarnessError(f"CNI wrapper: {upstream} is not an executable")
    argv = " ".join(shlex.quote(a) for a in exec_argv(pci_root, [str(upstream)]))
    fault = ""
    if fail_del_flag is not None:
        flag = shlex.quote(str(fail_del_flag))
        fault = (f'if [ "$CNI_COMMAND" = DEL ] && [ -e {flag} ]; then\n'
                 '  echo \'{"cniVersion":"0.4.0","code":999,"msg":"sriov-e2e: injected CNI DEL failure"}\'\n'
                 "  exit 1\nfi\n")
    dest.write_text(f"#!/bin/sh\n# sriov-e2e: {upstream.name} under the fake PCI tree {pci_root}\n{fault}"
                    f'exec {argv} "$@"\n', encoding="utf-8")
    dest.chmod(0o755)


def watch(state: State, resync_every: float = 2.0, stop_after: float | None = None) -> None:
    """Follow link events in the node netns and sync fake `net/` entries; ends on SIGTERM/SIGINT."""
    recs = state.all()
    node_path = netns.resolve_node_netns(recs[0].spec.node_netns if recs else None)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deadline = None if stop_after is None else time.monotonic() + stop_after
    (state.root / pools.WATCHER_PID).write_text(f"{os.getpid()}\n")
    with netlink.ipr_in(node_path) as ipr:
        ipr.bind()  # RTMGRP_LINK and friends: every link change in the node netns wakes us
        pools.sync_fake_net(state)
        while not stopping and (deadline is None or time.monotonic() < deadline):
            ready, _, _ = select.select([ipr.fileno()], [], [], resync_every)
            if ready:
                ipr.get()  # drain; the sync below reads the whole state anyway
            if not state.pools_dir.is_dir():
                break  # the last pool was destroyed
            n = pools.sync_fake_net(state)
            if n:
                log.info("fake sysfs: %d net/ entries updated", n)
