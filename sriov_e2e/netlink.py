"""Thin pyroute2 wrappers: open a netns, read links as LinkRecords, create and move links.

Only this module (and vfbackends) talks netlink; everything above it works on LinkRecords.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from sriov_e2e.errors import BadInput, HarnessError
from sriov_e2e.links import LinkRecord, from_netlink

CLONE_NEWNET = 0x40000000
NETLINK_ROUTE = 0
_libc = ctypes.CDLL(None, use_errno=True)


def _socket_in(netns_path: str) -> int:
    """A NETLINK_ROUTE socket fd bound to the netns at `netns_path`.

    Made by a short-lived thread that setns()es itself (setns moves only the calling thread), not by pyroute2's
    forked child: a child process would briefly hold the netns, and a netns walk would count it as a live owner
    (turning a leaked VF into an in-use one), and it would run a copy of this process's signal handlers.
    """
    out: list[int] = []
    err: list[BaseException] = []

    def run() -> None:
        try:
            target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(target, CLONE_NEWNET) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, f"setns {netns_path}: {os.strerror(e)}")
            finally:
                os.close(target)
            out.append(socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE).detach())
        except BaseException as e:  # handed to the caller's thread
            err.append(e)

    t = threading.Thread(target=run, name=f"netns-socket {netns_path}")
    t.start()
    t.join()
    if err:
        raise err[0]
    return out[0]


def _is_self(path: str) -> bool:
    try:
        return os.stat(path).st_ino == os.stat("/proc/self/ns/net").st_ino
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def ipr_in(netns_path: str) -> Iterator[Any]:
    """An IPRoute handle in the netns at `netns_path`; never creates a missing netns."""
    if not os.path.exists(netns_path):
        raise BadInput(f"netns {netns_path}: does not exist")
    try:
        ipr = IPRoute() if _is_self(netns_path) else IPRoute(fileno=_socket_in(netns_path))
    except FileNotFoundError:
        raise BadInput(f"netns {netns_path}: does not exist") from None
    except PermissionError:
        raise HarnessError(f"netns {netns_path}: permission denied (run as root)") from None
    try:
        yield ipr
    finally:
        ipr.close()


def dump_links(ipr: Any) -> list[LinkRecord]:
    """All links of a netns, with VF info for any link that reports it (RTEXT_FILTER_VF)."""
    return [from_netlink(m) for m in ipr.link("dump", ext_mask=1)]


def link_by_name(ipr: Any, name: str) -> LinkRecord | None:
    try:
        msgs = ipr.link("get", ifname=name, ext_mask=1)
    except NetlinkError as e:
        if e.code in (errno.ENODEV, errno.ENOENT):
            return None
        raise
    return from_netlink(msgs[0])


def netnsid_of(ipr: Any, netns_path: str) -> int | None:
    """The id the netns behind `ipr` uses for another netns (IFLA_LINK_NETNSID values), None if it has none."""
    fd = os.open(netns_path, os.O_RDONLY)
    try:
        r = ipr.get_netnsid(fd=fd)
    finally:
        os.close(fd)
    nsid = None if r is None else r.get("nsid")
    return None if nsid is None or nsid < 0 else int(nsid)


def index_of(ipr: Any, name: str) -> int:
    found = ipr.link_lookup(ifname=name)
    if not found:
        raise HarnessError(f"link {name}: not found")
    return int(found[0])


def delete_link(ipr: Any, name: str) -> None:
    """Delete a link; succeed quietly when it is already gone."""
    found = ipr.link_lookup(ifname=name)
    if not found:
        return
    try:
        ipr.link("del", index=found[0])
    except NetlinkError as e:
        if e.code not in (errno.ENODEV, errno.ENOENT):
            raise


def set_state(ipr: Any, name: str, up: bool) -> None:
    ipr.link("set", index=index_of(ipr, name), state="up" if up else "down")
