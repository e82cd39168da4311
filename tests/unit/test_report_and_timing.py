"""The terminal summary reads pytest's JUnit file; flow timings come out as a table and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sriov_e2e import report, timing

pytestmark = pytest.mark.unit

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="3" time="12.0">
<testcase classname="e2e.test_02_allocation" name="test_a" time="4.0"/>
<testcase classname="e2e.test_02_allocation" name="test_b" time="0.0">
  <skipped type="pytest.skip" message="backend local cannot do this: vf-config">skip</skipped></testcase>
<testcase classname="e2e.test_04_exhaustion" name="test_c" time="8.0">
  <failure message="WaitTimeout: pool on node n: allocatable 4, want 5 after 60s">trace</failure></testcase>
</testsuite></testsuites>"""


def test_the_summary_counts_and_names_what_did_not_pass(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").write_text(JUNIT)
    cases = report.read_junit(tmp_path / "junit.xml")
    assert [c.outcome for c in cases] == ["passed", "skipped", "failed"]
    text = report.summary(cases, [{"flow": "test_c", "phases": {"flow total": [8.0]}}])
    assert text.splitlines()[0] == "3 flows: 1 passed, 1 failed, 1 skipped"
    assert "FAILED   e2e.test_04_exhaustion::test_c: WaitTimeout: pool on node n: allocatable 4, want 5" in text
    assert "test_c: 8.0s" in text


def test_report_without_a_junit_file_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report.main(["--junit", str(tmp_path / "none.xml")]) == 2
    assert "run make e2e first" in capsys.readouterr().err


def test_timings_table_and_json(tmp_path: Path) -> None:
    r = timing.Recorder()
    r.start("flow_a")
    r.record(timing.POD_READY, 1.25)
    r.record(timing.POD_READY, 2.5)
    r.mark("x")
    r.since("x", timing.VF_RETURNED)
    r.since("never-marked", timing.POOL_RESTORED)  # no mark, no value
    table = r.table()
    assert "flow_a" in table and "1.9s (max 2.5, n=2)" in table
    r.save(tmp_path / "t.json")
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved[0]["flow"] == "flow_a" and timing.POOL_RESTORED not in saved[0]["phases"]
