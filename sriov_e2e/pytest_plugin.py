"""The harness's pytest plugin: options, capability skips, host fixtures with undo stacks, per-tier counts.

Loaded by the root conftest.py (and by `-p sriov_e2e.pytest_plugin`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import pytest

from sriov_e2e import hostsnap, pools
from sriov_e2e.state import PREFIX, PoolRecord, State
from sriov_e2e.timeouts import TIMEOUTS
from sriov_e2e.wait import NotYet, wait_until

TIERS = ("unit", "integration", "e2e")
_counts: Counter[tuple[str, str]] = Counter()


def _tier(item: pytest.Item) -> str:
    for t in TIERS:
        if item.get_closest_marker(t) is not None:
            return t
    return "e2e" if "e2e" in Path(str(item.path)).parts else "untiered"


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("sriov-e2e")
    g.addoption("--sriov-state-dir", default=os.environ.get("SRIOV_E2E_TEST_STATE_DIR"),
                help="parent dir for per-test state dirs (env SRIOV_E2E_TEST_STATE_DIR; default /run)")
    g.addoption("--sriov-vf-backend", default=os.environ.get("SRIOV_E2E_VF_BACKEND", "veth"),
                help="VF backend for fake pools (env SRIOV_E2E_VF_BACKEND; default veth)")


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt("SIGTERM")


def pytest_configure(config: pytest.Config) -> None:
    # SIGTERM must unwind like Ctrl-C so every fixture's undo stack runs
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if (item.get_closest_marker("needs_root") or item.get_closest_marker("integration")) and os.geteuid() != 0:
            item.add_marker(pytest.mark.skip(reason=f"needs root (running as uid {os.geteuid()})"))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        tier = next((t for t in TIERS if t in report.keywords), "untiered")
        _counts[(tier, report.outcome)] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _counts:
        return
    terminalreporter.section("tests per tier")
    for tier in (*TIERS, "untiered"):
        row = {o: _counts[(tier, o)] for o in ("passed", "failed", "skipped")}
        if sum(row.values()):
            terminalreporter.write_line(f"{tier}: {sum(row.values())} ran — " +
                                        ", ".join(f"{n} {o}" for o, n in row.items()))


# ---- host fixtures (integration tier) -------------------------------------------------------------------------


@pytest.fixture
def state(request: pytest.FixtureRequest) -> Iterator[State]:
    """A private state dir for one test, removed with everything in it."""
    parent = Path(request.config.getoption("--sriov-state-dir") or "/run")
    root = parent / f"{PREFIX}-test-{uuid.uuid4().hex[:8]}"
    yield State(root)
    for rec in State(root).all():  # a test that failed before destroying its pools
        pools.destroy(State(root), rec.spec.pf_name)
    if root.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=True)


@pytest.fixture
def make_pool(state: State, request: pytest.FixtureRequest) -> Iterator[Callable[..., PoolRecord]]:
    """Factory: a fake pool with a unique PF name, destroyed at teardown (in reverse order)."""
    made: list[str] = []
    backend = str(request.config.getoption("--sriov-vf-backend"))

    def make(count: int = 4, **kw: object) -> PoolRecord:
        pf = f"se{uuid.uuid4().hex[:6]}"
        rec = pools.create(state, pf, count, str(kw.pop("backend", backend)), **kw)  # type: ignore[arg-type]
        made.append(pf)
        return rec

    yield make
    for pf in reversed(made):
        if state.load(pf) is not None:
            pools.destroy(state, pf)


@dataclass(frozen=True)
class PodNetns:
    """A stand-in for a pod sandbox netns: a named netns and a live process holding it (like a pause container)."""

    name: str
    path: str
    holder: subprocess.Popen[bytes]


@pytest.fixture
def pod_netns() -> Iterator[Callable[[], PodNetns]]:
    made: list[PodNetns] = []

    def make() -> PodNetns:
        name = f"{PREFIX}-pod-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", name], check=True)
        holder = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "3600"])
        ns = PodNetns(name, f"/run/netns/{name}", holder)
        made.append(ns)
        path_ino = os.stat(ns.path).st_ino

        def held() -> None:
            try:
                if os.stat(f"/proc/{holder.pid}/ns/net").st_ino != path_ino:
                    raise NotYet("holder not in the netns yet")
            except FileNotFoundError:
                raise NotYet("holder not started yet") from None

        wait_until(held, timeout=TIMEOUTS.process_exit, what=f"holder of netns {name}")
        return ns

    yield make
    for ns in reversed(made):
        ns.holder.terminate()
        ns.holder.wait(timeout=TIMEOUTS.process_exit)
        subprocess.run(["ip", "netns", "delete", ns.name], check=False)


@pytest.fixture(scope="session")
def host_baseline() -> hostsnap.HostSnapshot:
    return hostsnap.snapshot()
