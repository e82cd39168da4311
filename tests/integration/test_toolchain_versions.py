"""Every binary built by `make tools` reports the version pinned in versions.toml; the image archives are sound."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from sriov_e2e.toolchain.build import Layout, default_cache_dir
from sriov_e2e.toolchain.pins import Pins, VersionProbe, load_pins, version_probes

pytestmark = [pytest.mark.integration, pytest.mark.needs_tools]

PINS: Pins = load_pins()
LAYOUT = Layout(default_cache_dir())
PROBES = version_probes(PINS)


def _require_bin_dir() -> None:
    if not LAYOUT.bin.is_dir():
        msg = f"toolchain not built: {LAYOUT.bin} is missing; run `make tools` (python3 -m sriov_e2e.toolchain build)"
        print(msg)
        pytest.skip(msg)


@pytest.mark.parametrize("probe", PROBES, ids=[p.binary for p in PROBES])
def test_binary_reports_pinned_version(probe: VersionProbe) -> None:
    _require_bin_dir()
    comp = PINS.component(probe.component)
    path = LAYOUT.dest(comp) / probe.binary
    assert path.is_file(), f"{path} missing although {LAYOUT.bin} exists: rerun `make tools`"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root")}
    env.update(dict(probe.env))
    proc = subprocess.run(
        [str(path), *probe.args], capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL
    )
    output = proc.stdout + proc.stderr
    assert probe.expect in output, (
        f"{probe.binary} {' '.join(probe.args)} (rc {proc.returncode}) does not report {probe.expect!r}"
        f" (pin {comp.version} in {PINS.path}):\n{output[-2000:]}"
    )
    if probe.buildinfo:
        # The Go build info (`go version -m`) is stored as plain text in the binary, also with -s -w.
        assert probe.buildinfo.encode() in path.read_bytes(), (
            f"{path}: build info does not name {probe.buildinfo.strip()!r} (pin {comp.module_version} in {PINS.path})"
        )


def test_blocked_components_are_absent_and_documented() -> None:
    """A component that cannot be fetched is reported, never silently replaced by something else."""
    _require_bin_dir()
    for comp in PINS.components:
        if comp.blocked:
            assert comp.blocked_error
            for path in LAYOUT.outputs(comp):
                assert not path.exists(), f"{path} exists but {comp.name} is marked blocked in {PINS.path}"


def test_image_archives_name_the_pinned_refs() -> None:
    _require_bin_dir()
    for image in PINS.images:
        path = LAYOUT.image_path(image)
        assert path.is_file(), f"{path} missing: rerun `make tools`"
        with tarfile.open(path) as tar:
            fh = tar.extractfile("index.json")
            assert fh is not None
            index = json.load(fh)
            names = {m["annotations"]["io.containerd.image.name"] for m in index["manifests"]}
            assert names == set(image.refs)
            for m in index["manifests"]:
                tar.getmember("blobs/sha256/" + m["digest"].removeprefix("sha256:"))


def test_warm_rebuild_is_fast_and_cached() -> None:
    _require_bin_dir()
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        ["python3", "-m", "sriov_e2e.toolchain", "build"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SRIOV_E2E_CACHE": str(LAYOUT.cache)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for comp in PINS.components:
        if not comp.blocked:
            assert any(line.startswith(comp.name + " ") and "cached" in line for line in proc.stdout.splitlines()), (
                proc.stdout
            )
