"""Pure tests of the toolchain: pins parsing, stamp logic, go.mod generation, OCI archive structure."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import tomllib
from pathlib import Path
from typing import Any

import pytest

from sriov_e2e.toolchain import build, images
from sriov_e2e.toolchain.pins import (
    Component,
    Pins,
    PinsError,
    default_pins_path,
    go_version_tuple,
    load_pins,
    parse_pins,
    split_ref,
    version_probes,
)

pytestmark = pytest.mark.unit

MINIMAL = """
schema = 1
[go]
min = "1.26.0"
[component.kubernetes]
version = "v1.34.4"
module = "k8s.io/kubernetes"
staging_replaces = true
godebug = "default=go1.24"
go_min = "1.24.0"
dest = "bin"
binaries = { kubelet = "k8s.io/kubernetes/cmd/kubelet", kubectl = "k8s.io/kubernetes/cmd/kubectl" }
ldflags_x = ["k8s.io/component-base/version.gitVersion={version}", "x.y.gitMinor={minor}"]
[component.etcd]
version = "v3.6.5"
module = "go.etcd.io/etcd/server/v3"
also_require = ["go.etcd.io/etcd/api/v3"]
dest = "bin"
binaries = { etcd = "go.etcd.io/etcd/server/v3" }
[image.pause]
ref = "registry.k8s.io/pause:3.10.1"
aliases = ["registry.k8s.io/pause:3.6"]
package = "busybox-static"
"""


def _pins(text: str = MINIMAL) -> Pins:
    return parse_pins(tomllib.loads(text), Path("versions.toml"))


# --- the real pin file ----------------------------------------------------------------------------------------


def test_repo_pin_file_parses_and_is_consistent() -> None:
    pins = load_pins()
    assert pins.path == default_pins_path()
    names = {c.name for c in pins.components}
    assert {"kubernetes", "etcd", "sriovdp", "multus", "sriov-cni", "cni-plugins", "kind", "crictl"} <= names
    k8s = pins.component("kubernetes")
    assert k8s.major == "1" and int(k8s.minor) <= 34, "cgroup v1 hosts need kubelet <= 1.34"
    assert k8s.staging_replaces and k8s.godebug == "default=go1.24"
    assert set(k8s.binary_names) >= {
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "kubectl",
    }
    assert set(pins.component("cni-plugins").binary_names) == {
        "host-device",
        "host-local",
        "bridge",
        "loopback",
        "portmap",
        "static",
    }
    assert pins.component("etcd").version.startswith("v3.6.")
    assert pins.image("pause").ref.startswith("registry.k8s.io/pause:")
    assert pins.image("testpod").ref.startswith("localhost/sriov-e2e/testpod:")
    for comp in pins.components:
        assert go_version_tuple(comp.go_min) <= go_version_tuple(pins.go_min)
        if comp.blocked:
            assert comp.blocked_error, f"{comp.name}: a blocked component must record the exact error"


def test_every_unblocked_binary_has_a_version_probe() -> None:
    pins = load_pins()
    probes = {p.binary: p for p in version_probes(pins)}
    for comp in pins.components:
        for binary in comp.binary_names:
            if comp.blocked:
                assert binary not in probes
            else:
                probe = probes[binary]
                assert comp.version.removeprefix("v") in probe.expect + probe.buildinfo


# --- parsing --------------------------------------------------------------------------------------------------


def test_parse_minimal() -> None:
    pins = _pins()
    k8s = pins.component("kubernetes")
    assert k8s.module_version == "v1.34.4"  # defaults to version
    assert k8s.binaries == (("kubelet", "k8s.io/kubernetes/cmd/kubelet"), ("kubectl", "k8s.io/kubernetes/cmd/kubectl"))
    assert pins.component_of_binary("etcd").name == "etcd"
    assert pins.image("pause").refs == ("registry.k8s.io/pause:3.10.1", "registry.k8s.io/pause:3.6")
    assert pins.image("pause").tag == "3.10.1"
    assert pins.kubernetes_version == "v1.34.4"
    with pytest.raises(KeyError):
        pins.component("nope")


def test_dataclasses_are_frozen() -> None:
    comp = _pins().component("etcd")
    with pytest.raises(AttributeError):
        comp.version = "v9.9.9"  # type: ignore[misc]


def test_ldflags_placeholders() -> None:
    k8s = _pins().component("kubernetes")
    flags = k8s.ldflags("2026-02-10T12:53:36Z")
    assert flags.startswith("-s -w ")
    assert "-X k8s.io/component-base/version.gitVersion=v1.34.4" in flags
    assert "-X x.y.gitMinor=34" in flags


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (("schema = 1", "schema = 2"), "schema"),
        (('version = "v3.6.5"', 'version = "3.6.5"'), "not a tag"),
        (('dest = "bin"\nbinaries = { etcd', 'dest = "usr"\nbinaries = { etcd'), "dest"),
        (("{minor}", "{nope}"), "placeholder"),
        (('min = "1.26.0"', 'min = "1.20"'), "go_min"),
        (('ref = "registry.k8s.io/pause:3.10.1"', 'ref = "registry.k8s.io/pause"'), "<name>:<tag>"),
        (('also_require = ["go.etcd.io/etcd/api/v3"]', "also_require = [1]"), "list of strings"),
        (('module = "go.etcd.io/etcd/server/v3"', 'module = "go.etcd.io/etcd/server/v3"\nfoo = 1'), "unknown keys"),
        (("binaries = { etcd", "binaries = { kubelet"), "built by both"),
        (('also_require = ["go.etcd.io/etcd/api/v3"]', 'require = { "a.b/c" = "latest" }'), "module version"),
        (('also_require = ["go.etcd.io/etcd/api/v3"]', 'require = ["a.b/c"]'), "must be a table"),
    ],
)
def test_parse_rejects(patch: tuple[str, str], message: str) -> None:
    old, new = patch
    assert old in MINIMAL
    with pytest.raises(PinsError, match=message):
        _pins(MINIMAL.replace(old, new, 1))


def test_load_pins_missing_and_malformed(tmp_path: Path) -> None:
    with pytest.raises(PinsError, match="not found"):
        load_pins(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("schema = \n")
    with pytest.raises(PinsError):
        load_pins(bad)


def test_split_ref_and_go_versions() -> None:
    assert split_ref("localhost:5000/a/b:1.0") == ("localhost:5000/a/b", "1.0")
    with pytest.raises(PinsError):
        split_ref("localhost:5000/a/b")
    assert go_version_tuple("go1.26.8") == (1, 26, 8)
    assert go_version_tuple("1.24") == (1, 24, 0)
    assert go_version_tuple("1.26.6") > go_version_tuple("1.26")


# --- build recipe, stamps, go.mod -----------------------------------------------------------------------------


def test_recipe_hash_tracks_version_and_toolchain() -> None:
    etcd = _pins().component("etcd")
    base = build.recipe_hash(build.component_recipe(etcd, "go1.26.8"))
    assert base == build.recipe_hash(build.component_recipe(etcd, "go1.26.8"))
    assert base != build.recipe_hash(build.component_recipe(etcd, "go1.26.9"))
    bumped = Component(**{**etcd.__dict__, "version": "v3.6.6", "module_version": "v3.6.6"})
    assert base != build.recipe_hash(build.component_recipe(bumped, "go1.26.8"))
    # The reason text of a blocked component is not part of how it is built.
    noted = Component(**{**etcd.__dict__, "blocked": None, "blocked_error": "x"})
    assert base == build.recipe_hash(build.component_recipe(noted, "go1.26.8"))


def test_stamp_freshness(tmp_path: Path) -> None:
    out = tmp_path / "bin" / "etcd"
    stamp = tmp_path / "stamps" / "etcd.json"
    assert not build.stamp_is_fresh(stamp, "v3.6.5", "h1", [out])  # no stamp
    out.parent.mkdir()
    out.write_bytes(b"\x7fELF")
    build.write_stamp(stamp, "etcd", "v3.6.5", "h1", [out], 1.0)
    assert build.stamp_is_fresh(stamp, "v3.6.5", "h1", [out])
    assert not build.stamp_is_fresh(stamp, "v3.6.6", "h1", [out])  # other version
    assert not build.stamp_is_fresh(stamp, "v3.6.5", "h2", [out])  # other recipe
    out.write_bytes(b"")
    assert not build.stamp_is_fresh(stamp, "v3.6.5", "h1", [out])  # empty output
    out.unlink()
    assert not build.stamp_is_fresh(stamp, "v3.6.5", "h1", [out])  # missing output
    stamp.write_text("not json")
    assert not build.stamp_is_fresh(stamp, "v3.6.5", "h1", [])


def test_staging_modules_and_gomod() -> None:
    k8s_gomod = """module k8s.io/kubernetes

go 1.24.0

require (
\tk8s.io/api v0.0.0
\tgithub.com/foo/bar v1.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tgithub.com/foo/bar => github.com/foo/bar v1.0.1
)
"""
    staging = build.staging_modules(k8s_gomod)
    assert staging == ["k8s.io/api", "k8s.io/client-go"]
    k8s = _pins().component("kubernetes")
    text = build.render_gomod(k8s, staging)
    assert "module sriov-e2e.local/build/kubernetes" in text
    assert "\ngo 1.24.0\n" in text
    assert "\ngodebug default=go1.24\n" in text
    assert "\tk8s.io/kubernetes v1.34.4\n" in text
    assert "\tk8s.io/api => k8s.io/api v0.34.4\n" in text
    assert "\tk8s.io/client-go => k8s.io/client-go v0.34.4\n" in text
    assert "github.com/foo/bar" not in text  # only staging replaces are copied

    etcd_text = build.render_gomod(_pins().component("etcd"))
    assert "\tgo.etcd.io/etcd/server/v3 v3.6.5\n\tgo.etcd.io/etcd/api/v3 v3.6.5\n" in etcd_text
    assert "replace" not in etcd_text


def test_gomod_extra_requires_and_stable_recipe() -> None:
    """`require` pins the dependencies of a module without go.mod; an empty one leaves old stamps valid."""
    etcd = _pins().component("etcd")
    base = build.recipe_hash(build.component_recipe(etcd, "go1.26.8"))
    pinned = Component(**{**etcd.__dict__, "require": (("golang.org/x/sys", "v0.6.0"),)})
    assert "\tgo.etcd.io/etcd/api/v3 v3.6.5\n\tgolang.org/x/sys v0.6.0\n)" in build.render_gomod(pinned)
    assert base != build.recipe_hash(build.component_recipe(pinned, "go1.26.8"))
    assert "require" not in build.component_recipe(etcd, "go1.26.8")["component"]
    text = MINIMAL.replace(
        'also_require = ["go.etcd.io/etcd/api/v3"]',
        'require = { "golang.org/x/sys" = "v0.6.0", "a.b/c" = "v2.1.0+incompatible" }',
    )
    assert _pins(text).component("etcd").require == (("golang.org/x/sys", "v0.6.0"), ("a.b/c", "v2.1.0+incompatible"))


def test_sriov_probes_check_the_compiled_in_module_version() -> None:
    pins = load_pins()
    probes = {p.binary: p for p in version_probes(pins)}
    for binary in ("sriovdp", "sriov"):
        comp = pins.component_of_binary(binary)
        assert probes[binary].buildinfo == f"\t{comp.module}\t{comp.module_version}\t"


def test_select_resolves_components_binaries_and_images() -> None:
    pins = _pins()
    comps, imgs = build.select(pins, [])
    assert len(comps) == 2 and len(imgs) == 1
    comps, imgs = build.select(pins, ["kubelet", "kubernetes"])
    assert [c.name for c in comps] == ["kubernetes"] and imgs == []
    comps, imgs = build.select(pins, ["images"])
    assert comps == [] and [i.name for i in imgs] == ["pause"]
    with pytest.raises(PinsError, match="unknown component"):
        build.select(pins, ["nope"])


def test_blocked_component_is_reported_not_built(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        'binaries = { etcd = "go.etcd.io/etcd/server/v3" }',
        'binaries = { etcd = "go.etcd.io/etcd/server/v3" }\nblocked = "not on the proxy"\nblocked_error = "403"',
    )
    etcd = _pins(text).component("etcd")
    res = build.build_component(etcd, build.Layout(tmp_path), "/nonexistent/go", "go1.26.8")
    assert res.status == "blocked" and res.detail == "not on the proxy"
    assert not (tmp_path / "bin").exists()


# --- OCI archives ---------------------------------------------------------------------------------------------


def _read_archive(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        out: dict[str, bytes] = {}
        for member in tar.getmembers():
            if member.isfile():
                fh = tar.extractfile(member)
                assert fh is not None
                out[member.name] = fh.read()
        return out


def _fake_entries() -> tuple[list[images.Entry], images.ImageConfig]:
    entries = [
        images.Entry("bin", "dir"),
        images.Entry("bin/busybox", "file", 0o755, b"#!fake busybox\n"),
        images.Entry("bin/sh", "symlink", target="busybox"),
        images.Entry("tmp", "dir", 0o1777),
    ]
    return entries, images.ImageConfig(entrypoint=("/pause",))


def test_oci_archive_structure(tmp_path: Path) -> None:
    entries, config = _fake_entries()
    refs = ["registry.k8s.io/pause:3.10.1", "registry.k8s.io/pause:3.6"]
    res = images.write_oci_archive(tmp_path / "pause.tar", entries, config, refs, arch="amd64")
    files = _read_archive(res.path)
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(files["index.json"])
    assert index["schemaVersion"] == 2
    assert [m["annotations"]["io.containerd.image.name"] for m in index["manifests"]] == refs
    assert [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]] == ["3.10.1", "3.6"]
    assert {m["digest"] for m in index["manifests"]} == {res.manifest_digest}
    assert index["manifests"][0]["platform"] == {"architecture": "amd64", "os": "linux"}

    # Every blob is stored under its own digest, and sizes match.
    for name, data in files.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    manifest_bytes = files["blobs/sha256/" + res.manifest_digest.removeprefix("sha256:")]
    manifest: dict[str, Any] = json.loads(manifest_bytes)
    assert index["manifests"][0]["size"] == len(manifest_bytes)
    assert manifest["mediaType"] == images.MT_MANIFEST
    assert manifest["config"]["digest"] == res.config_digest
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == images.MT_LAYER_GZIP and layer["digest"] == res.layer_digest
    layer_bytes = files["blobs/sha256/" + res.layer_digest.removeprefix("sha256:")]
    assert layer["size"] == len(layer_bytes)

    cfg = json.loads(files["blobs/sha256/" + res.config_digest.removeprefix("sha256:")])
    assert cfg["os"] == "linux" and cfg["architecture"] == "amd64"
    assert cfg["config"]["Entrypoint"] == ["/pause"]
    raw_layer = gzip.decompress(layer_bytes)
    assert cfg["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw_layer).hexdigest()]}

    with tarfile.open(fileobj=io.BytesIO(raw_layer)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
    assert members["bin/busybox"].mode == 0o755 and members["bin/busybox"].uid == 0
    assert members["tmp"].isdir() and members["tmp"].mode == 0o1777
    assert all(m.mtime == 0 for m in members.values())


def test_oci_archive_is_reproducible(tmp_path: Path) -> None:
    entries, config = _fake_entries()
    a = images.write_oci_archive(tmp_path / "a.tar", entries, config, ["x/y:1"], arch="amd64")
    b = images.write_oci_archive(tmp_path / "b.tar", list(reversed(entries)), config, ["x/y:1"], arch="amd64")
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.manifest_digest == b.manifest_digest


def test_oci_archive_needs_a_ref(tmp_path: Path) -> None:
    entries, config = _fake_entries()
    with pytest.raises(ValueError, match="ref"):
        images.write_oci_archive(tmp_path / "a.tar", entries, config, [])


def test_image_specs(tmp_path: Path) -> None:
    bb = tmp_path / "busybox"
    bb.write_bytes(b"fake")
    entries, cfg = images.image_spec("pause", bb, ["sh", "sleep", "ip"])
    paths = {e.path: e for e in entries}
    assert cfg.entrypoint == ("/pause",)
    assert b"trap 'exit 0' TERM INT" in paths["pause"].data
    assert "bin/ip" not in paths  # the pause image carries only what the loop needs
    entries, cfg = images.image_spec("testpod", bb, ["sh", "sleep", "ip", "cat", "env"])
    paths = {e.path: e for e in entries}
    for applet in ("sh", "sleep", "ip", "cat", "env"):
        assert paths[f"bin/{applet}"].target == "busybox"
    assert paths["sbin"].target == "bin"
    assert cfg.cmd[0] == "/bin/sh"
    with pytest.raises(ValueError):
        images.image_spec("other", bb, [])


def test_is_static_elf(tmp_path: Path) -> None:
    def elf(interp: bool) -> bytes:
        # Minimal ELF64 LE header with one program header of type PT_INTERP (3) or PT_LOAD (1).
        header = bytearray(64)
        header[:4] = b"\x7fELF"
        header[4] = 2
        header[5] = 1
        header[0x20:0x28] = (64).to_bytes(8, "little")
        header[0x36:0x38] = (56).to_bytes(2, "little")
        header[0x38:0x3A] = (1).to_bytes(2, "little")
        ph = bytearray(56)
        ph[:4] = (3 if interp else 1).to_bytes(4, "little")
        return bytes(header + ph)

    static, dynamic, text = tmp_path / "s", tmp_path / "d", tmp_path / "t"
    static.write_bytes(elf(False))
    dynamic.write_bytes(elf(True))
    text.write_bytes(b"#!/bin/sh\n")
    assert images.is_static_elf(static)
    assert not images.is_static_elf(dynamic)
    assert not images.is_static_elf(text)
    assert images.oci_arch("x86_64") == "amd64" and images.oci_arch("aarch64") == "arm64"
