"""An interrupted run (SIGINT or SIGTERM mid-way) leaves the host as it found it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from sriov_e2e import hostsnap, pools
from sriov_e2e.fake_pci import FakePciTree
from sriov_e2e.state import State
from sriov_e2e.wait import NotYet, wait_until

pytestmark = [pytest.mark.integration]
VICTIM = Path(__file__).parent / "victims" / "victim_pool.py"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_test_run_interrupted_midway_cleans_up(tmp_path: Path, sig: signal.Signals) -> None:
    before = hostsnap.snapshot()
    ready = tmp_path / "ready"
    child = subprocess.Popen([sys.executable, "-m", "pytest", str(VICTIM), "-q", "-p", "no:cacheprovider"],
                             env={**os.environ, "SRIOV_E2E_VICTIM_READY": str(ready)},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def victim_ready() -> str:
        if child.poll() is not None:
            raise AssertionError(f"victim exited early ({child.returncode}): {child.communicate()[0]}")
        if not ready.exists():
            raise NotYet("no ready file yet")
        return ready.read_text()

    pf = wait_until(victim_ready, timeout=60, what="victim pytest run")
    assert pf in hostsnap.snapshot().links  # it really holds a pool now
    child.send_signal(sig)
    out, _ = child.communicate(timeout=60)
    assert child.returncode == pytest.ExitCode.INTERRUPTED, out
    assert before.diff(hostsnap.snapshot()) == [], out


def test_an_interrupted_create_removes_what_it_had_made(monkeypatch: pytest.MonkeyPatch) -> None:
    before = hostsnap.snapshot()
    state = State(Path(f"/run/sriov-e2e-test-{uuid.uuid4().hex[:8]}"))

    def interrupted(*args: object, **kw: object) -> None:
        raise KeyboardInterrupt("SIGINT")

    monkeypatch.setattr(FakePciTree, "add_pf", interrupted)  # after the links exist, before the record
    with pytest.raises(KeyboardInterrupt):
        pools.create(state, f"i{uuid.uuid4().hex[:5]}", 16, "veth")
    assert not state.root.exists()
    assert before.diff(hostsnap.snapshot()) == []
