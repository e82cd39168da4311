"""Undo stacks, the wait helper, timeouts from the environment, pool records."""

from __future__ import annotations

from pathlib import Path

import pytest

from sriov_e2e.errors import BadInput
from sriov_e2e.model import Locator, LocatorKind, PoolSpec, VFSpec
from sriov_e2e.state import PoolRecord, State
from sriov_e2e.timeouts import Timeouts
from sriov_e2e.undo import UndoStack
from sriov_e2e.wait import NotYet, WaitTimeout, wait_until

pytestmark = pytest.mark.unit


def test_undo_runs_in_reverse_and_keeps_going_after_a_failure() -> None:
    done: list[str] = []
    u = UndoStack()
    u.push("a", lambda: done.append("a"))

    def boom() -> None:
        raise RuntimeError("b failed")

    u.push("b", boom)
    u.push("c", lambda: done.append("c"))
    with pytest.raises(RuntimeError, match="b failed"):
        u.undo()
    assert done == ["c", "a"]


def test_an_interrupt_inside_the_block_undoes_everything() -> None:
    done: list[str] = []
    with pytest.raises(KeyboardInterrupt), UndoStack() as u:
        u.push("x", lambda: done.append("x"))
        raise KeyboardInterrupt
    assert done == ["x"]


def test_discarded_steps_are_not_undone() -> None:
    done: list[str] = []
    with UndoStack() as u:
        u.push("x", lambda: done.append("x"))
        u.discard()
    assert done == []


def test_wait_names_the_object_and_the_last_state() -> None:
    seen = iter(range(1000))

    def check() -> None:
        raise NotYet(f"allocatable {next(seen)}, want 4")

    with pytest.raises(WaitTimeout, match=r"node n1: allocatable \d+, want 4 after 0.2s"):
        wait_until(check, timeout=0.2, interval=0.05, what="node n1")


def test_wait_returns_the_value_once_the_check_passes() -> None:
    calls = iter([NotYet("no"), 7])

    def check() -> int:
        v = next(calls)
        if isinstance(v, Exception):
            raise v
        return v

    assert wait_until(check, timeout=5, interval=0.01, what="x") == 7


def test_other_errors_end_a_wait_at_once() -> None:
    def check() -> None:
        raise ValueError("pod Failed")

    with pytest.raises(ValueError, match="pod Failed"):
        wait_until(check, timeout=30, what="pod p")


def test_timeouts_come_from_the_environment() -> None:
    assert Timeouts.from_env({"SRIOV_E2E_TIMEOUT_CNI": "5"}).cni == 5.0
    with pytest.raises(BadInput, match="SRIOV_E2E_TIMEOUT_CNI='soon'"):
        Timeouts.from_env({"SRIOV_E2E_TIMEOUT_CNI": "soon"})
    with pytest.raises(BadInput, match="positive"):
        Timeouts.from_env({"SRIOV_E2E_TIMEOUT_POLL": "0"})


def test_pool_records_round_trip(tmp_path: Path) -> None:
    st = State(tmp_path / "s")
    spec = PoolSpec("fpf0", "0000:fe:00.0", "veth", "openshift.io/mellanoxnics", 2,
                    tuple(VFSpec(i, f"0000:fe:00.{i + 1}", f"fpf0v{i}", Locator(LocatorKind.PEER, f"fpf0p{i}"))
                          for i in range(2)), {"pfNames": ["fpf0"]})
    rec = PoolRecord(spec, 0xFE, "mlx5", ("fpf0p0", "fpf0p1", "fpf0"))
    st.save(rec)
    assert st.load("fpf0") == rec
    assert [r.spec.pf_name for r in st.all()] == ["fpf0"]


def test_a_corrupt_record_is_a_clear_error(tmp_path: Path) -> None:
    st = State(tmp_path / "s")
    st.pools_dir.mkdir(parents=True)
    (st.pools_dir / "fpf0.json").write_text("{not json")
    with pytest.raises(BadInput, match=r"fpf0\.json is corrupt"):
        st.load("fpf0")
