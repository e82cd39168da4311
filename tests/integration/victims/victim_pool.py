"""Not collected by default: run by test_interrupt.py, which signals it while it holds a pool and a pod netns."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from sriov_e2e.pytest_plugin import PodNetns

pytestmark = [pytest.mark.integration]


def test_hold_a_pool_until_signalled(make_pool: Callable[..., object], pod_netns: Callable[[], PodNetns]) -> None:
    rec = make_pool(4)
    pf = rec.spec.pf_name  # type: ignore[attr-defined]
    pod = pod_netns()
    subprocess.run(["ip", "link", "set", f"{pf}v0", "netns", pod.name], check=True)
    Path(os.environ["SRIOV_E2E_VICTIM_READY"]).write_text(pf)
    threading.Event().wait(timeout=60)  # the parent interrupts us long before this
    pytest.fail("victim: no signal arrived within 60 s")
