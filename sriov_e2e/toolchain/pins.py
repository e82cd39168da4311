"""Typed view of ``versions.toml``, the one pin file of sriov-e2e.

Standard library only: this runs before any virtualenv exists (``make tools`` uses the system python3).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEST_DIRS",
    "Component",
    "Image",
    "Pins",
    "PinsError",
    "VersionProbe",
    "default_pins_path",
    "go_version_tuple",
    "load_pins",
    "parse_pins",
    "split_ref",
    "version_probes",
]

DEST_DIRS = ("bin", "cni-bin")
_SEMVER_TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$")
_GO_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")
_PLACEHOLDERS = frozenset({"version", "version_nov", "major", "minor", "module_time"})


class PinsError(ValueError):
    """versions.toml is missing, malformed, or inconsistent."""


@dataclass(frozen=True)
class Component:
    """One Go component built from the module proxy."""

    name: str
    version: str
    module: str
    module_version: str
    binaries: tuple[tuple[str, str], ...]
    dest: str
    also_require: tuple[str, ...] = ()
    require: tuple[tuple[str, str], ...] = ()
    replace: tuple[tuple[str, str], ...] = ()
    staging_replaces: bool = False
    godebug: str | None = None
    ldflags_x: tuple[str, ...] = ()
    go_min: str = "1.21"
    blocked: str | None = None
    blocked_error: str | None = None

    @property
    def major(self) -> str:
        return _semver(self.version, self.name)[0]

    @property
    def minor(self) -> str:
        return _semver(self.version, self.name)[1]

    @property
    def binary_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.binaries)

    def placeholders(self, module_time: str) -> dict[str, str]:
        """Values for the ``{...}`` placeholders of ``ldflags_x``."""
        major, minor, _ = _semver(self.version, self.name)
        return {
            "version": self.version,
            "version_nov": self.version.removeprefix("v"),
            "major": major,
            "minor": minor,
            "module_time": module_time,
        }

    def ldflags(self, module_time: str) -> str:
        """The full ``-ldflags`` value: strip symbols plus the version ``-X`` assignments."""
        values = self.placeholders(module_time)
        parts = ["-s", "-w"]
        for assignment in self.ldflags_x:
            parts.append("-X")
            parts.append(assignment.format_map(values))
        return " ".join(parts)


@dataclass(frozen=True)
class Image:
    """A container image written locally as an OCI image-layout tar."""

    name: str
    ref: str
    aliases: tuple[str, ...]
    package: str

    @property
    def refs(self) -> tuple[str, ...]:
        return (self.ref, *self.aliases)

    @property
    def tag(self) -> str:
        return split_ref(self.ref)[1]


@dataclass(frozen=True)
class Pins:
    path: Path
    go_min: str
    components: tuple[Component, ...]
    images: tuple[Image, ...]

    def component(self, name: str) -> Component:
        for comp in self.components:
            if comp.name == name:
                return comp
        raise KeyError(f"no component {name!r} in {self.path}")

    def image(self, name: str) -> Image:
        for img in self.images:
            if img.name == name:
                return img
        raise KeyError(f"no image {name!r} in {self.path}")

    def component_of_binary(self, binary: str) -> Component:
        for comp in self.components:
            if binary in comp.binary_names:
                return comp
        raise KeyError(f"no component builds a binary {binary!r}")

    @property
    def kubernetes_version(self) -> str:
        return self.component("kubernetes").version

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``versions --json``."""
        return {
            "versions_file": str(self.path),
            "go_min": self.go_min,
            "components": {
                c.name: {
                    "version": c.version,
                    "module": c.module,
                    "module_version": c.module_version,
                    "binaries": list(c.binary_names),
                    "dest": c.dest,
                    "blocked": c.blocked,
                }
                for c in self.components
            },
            "images": {i.name: {"ref": i.ref, "aliases": list(i.aliases)} for i in self.images},
        }


@dataclass(frozen=True)
class VersionProbe:
    """How to ask one built binary for its version, and what the answer must contain.

    ``buildinfo``, when set, must occur in the binary's embedded Go build info (``go version -m``: tab-separated
    ``mod``/``dep`` lines). It checks the module version of binaries that cannot print one (sriovdp and
    sriov-cni at the versions the module proxy serves); ``expect`` then only checks that the binary runs.
    """

    component: str
    binary: str
    args: tuple[str, ...]
    expect: str
    env: tuple[tuple[str, str], ...] = ()
    buildinfo: str = ""


def default_pins_path() -> Path:
    """``$SRIOV_E2E_VERSIONS`` or ``versions.toml`` at the repository root."""
    env = os.environ.get("SRIOV_E2E_VERSIONS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "versions.toml"


def load_pins(path: Path | None = None) -> Pins:
    pins_path = path if path is not None else default_pins_path()
    try:
        with pins_path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise PinsError(f"pin file not found: {pins_path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PinsError(f"{pins_path}: {exc}") from exc
    return parse_pins(data, pins_path)


def parse_pins(data: Mapping[str, Any], path: Path) -> Pins:
    if data.get("schema") != 1:
        raise PinsError(f"{path}: expected `schema = 1`, got {data.get('schema')!r}")
    go_table = _table(data, "go", path)
    go_min = _str(go_table, "min", f"{path} [go]")
    _go_version_tuple(go_min, f"{path} [go].min")

    comps: list[Component] = []
    for name, raw in _table(data, "component", path).items():
        comps.append(_parse_component(name, raw, f"{path} [component.{name}]"))
    if not comps:
        raise PinsError(f"{path}: no [component.*] tables")
    seen: dict[str, str] = {}
    for comp in comps:
        for binary in comp.binary_names:
            if binary in seen:
                raise PinsError(f"{path}: binary {binary!r} built by both {seen[binary]} and {comp.name}")
            seen[binary] = comp.name
        if _go_version_tuple(comp.go_min, comp.name) > _go_version_tuple(go_min, "[go].min"):
            raise PinsError(f"{path}: [go].min {go_min} is lower than {comp.name}'s go_min {comp.go_min}")

    images: list[Image] = []
    for name, raw in _table(data, "image", path).items():
        where = f"{path} [image.{name}]"
        if not isinstance(raw, Mapping):
            raise PinsError(f"{where}: must be a table")
        ref = _str(raw, "ref", where)
        aliases = _str_list(raw, "aliases", where)
        for r in (ref, *aliases):
            split_ref(r)
        images.append(Image(name=name, ref=ref, aliases=aliases, package=_str(raw, "package", where)))
    return Pins(path=path, go_min=go_min, components=tuple(comps), images=tuple(images))


def split_ref(ref: str) -> tuple[str, str]:
    """``registry/repo:tag`` -> (``registry/repo``, ``tag``); a tag is required."""
    name, sep, tag = ref.rpartition(":")
    if not sep or not name or not tag or "/" in tag:
        raise PinsError(f"image ref {ref!r} must be <name>:<tag>")
    return name, tag


def version_probes(pins: Pins) -> list[VersionProbe]:
    """One probe per built binary of every component that is not blocked."""
    probes: list[VersionProbe] = []
    for comp in pins.components:
        if comp.blocked:
            continue
        v = comp.version
        for binary in comp.binary_names:
            probes.append(_probe(comp, binary, v))
    return probes


def _probe(comp: Component, binary: str, v: str) -> VersionProbe:
    name = comp.name
    if name == "kubernetes":
        if binary == "kubectl":
            return VersionProbe(name, binary, ("version", "--client"), f"Client Version: {v}")
        return VersionProbe(name, binary, ("--version",), f"Kubernetes {v}")
    if name == "etcd":
        return VersionProbe(name, binary, ("--version",), f"etcd Version: {v.removeprefix('v')}")
    if name == "multus":
        return VersionProbe(name, binary, ("-version",), f"version:{v}")
    if name == "cni-plugins":
        # Without CNI_COMMAND a plugin prints its "about" line, e.g. "CNI bridge plugin v1.9.1".
        return VersionProbe(name, binary, (), f"plugin {v}")
    if name == "kind":
        return VersionProbe(name, binary, ("version",), f"kind {v} ")
    if name == "crictl":
        return VersionProbe(name, binary, ("--version",), f"crictl version {v}")
    # sriovdp before v3.6 has no --version and sriov-cni v2.1.0 no "about" line: check the module version that
    # is compiled in, and that the binary runs (flag usage; the CNI VERSION command).
    modinfo = f"\t{comp.module}\t{comp.module_version}\t"
    if name == "sriovdp":
        return VersionProbe(name, binary, ("--help",), "-config-file", buildinfo=modinfo)
    if name == "sriov-cni":
        return VersionProbe(name, binary, (), '"supportedVersions"', (("CNI_COMMAND", "VERSION"),), modinfo)
    return VersionProbe(name, binary, ("--version",), v)


def _parse_component(name: str, raw: object, where: str) -> Component:
    if not isinstance(raw, Mapping):
        raise PinsError(f"{where}: must be a table")
    known = {
        "version", "module", "module_version", "binaries", "dest", "also_require", "require", "replace",
        "staging_replaces", "godebug", "ldflags_x", "go_min", "blocked", "blocked_error",
    }  # fmt: skip
    unknown = sorted(set(raw) - known)
    if unknown:
        raise PinsError(f"{where}: unknown keys {unknown}")
    version = _str(raw, "version", where)
    _semver(version, where)
    binaries_raw = raw.get("binaries")
    if not isinstance(binaries_raw, Mapping) or not binaries_raw:
        raise PinsError(f"{where}: `binaries` must be a non-empty table name -> Go package")
    binaries: list[tuple[str, str]] = []
    for bin_name, pkg in binaries_raw.items():
        if not isinstance(pkg, str) or not pkg or "/" in bin_name:
            raise PinsError(f"{where}: binaries.{bin_name} must be a Go package path")
        binaries.append((bin_name, pkg))
    dest = _str(raw, "dest", where)
    if dest not in DEST_DIRS:
        raise PinsError(f"{where}: dest must be one of {DEST_DIRS}, got {dest!r}")
    replace_raw = raw.get("replace", {})
    if not isinstance(replace_raw, Mapping):
        raise PinsError(f"{where}: `replace` must be a table")
    replace: list[tuple[str, str]] = []
    for old, new in replace_raw.items():
        if not isinstance(new, str) or len(new.split()) != 2:
            raise PinsError(f"{where}: replace.{old} must be '<module> <version>'")
        replace.append((old, new))
    require_raw = raw.get("require", {})
    if not isinstance(require_raw, Mapping):
        raise PinsError(f"{where}: `require` must be a table")
    require: list[tuple[str, str]] = []
    for mod, ver in require_raw.items():
        if not isinstance(ver, str) or not _SEMVER_TAG.match(ver):
            raise PinsError(f"{where}: require.{mod} must be a module version like v1.2.3")
        require.append((mod, ver))
    ldflags_x = _str_list(raw, "ldflags_x", where)
    for assignment in ldflags_x:
        if "=" not in assignment:
            raise PinsError(f"{where}: ldflags_x entry {assignment!r} must be pkg.var=value")
        for field in re.findall(r"{([^}]*)}", assignment):
            if field not in _PLACEHOLDERS:
                raise PinsError(f"{where}: unknown placeholder {{{field}}} in {assignment!r}")
    staging = raw.get("staging_replaces", False)
    if not isinstance(staging, bool):
        raise PinsError(f"{where}: staging_replaces must be true or false")
    go_min = _opt_str(raw, "go_min", where) or "1.21"
    _go_version_tuple(go_min, f"{where} go_min")
    return Component(
        name=name,
        version=version,
        module=_str(raw, "module", where),
        module_version=_opt_str(raw, "module_version", where) or version,
        binaries=tuple(binaries),
        dest=dest,
        also_require=_str_list(raw, "also_require", where),
        require=tuple(require),
        replace=tuple(replace),
        staging_replaces=staging,
        godebug=_opt_str(raw, "godebug", where),
        ldflags_x=ldflags_x,
        go_min=go_min,
        blocked=_opt_str(raw, "blocked", where),
        blocked_error=_opt_str(raw, "blocked_error", where),
    )


def go_version_tuple(text: str) -> tuple[int, int, int]:
    """``1.26.8`` / ``go1.26.8`` / ``1.24`` -> (1, 26, 8)."""
    return _go_version_tuple(text.removeprefix("go"), "go version")


def _go_version_tuple(text: str, where: str) -> tuple[int, int, int]:
    m = _GO_VERSION.match(text)
    if not m:
        raise PinsError(f"{where}: {text!r} is not a Go version like 1.26.6")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def _semver(version: str, where: str) -> tuple[str, str, str]:
    m = _SEMVER_TAG.match(version)
    if not m:
        raise PinsError(f"{where}: version {version!r} is not a tag like v1.2.3")
    return m.group(1), m.group(2), m.group(3)


def _table(data: Mapping[str, Any], key: str, path: Path) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise PinsError(f"{path}: missing table [{key}]")
    return value


def _str(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise PinsError(f"{where}: `{key}` must be a non-empty string")
    return value


def _opt_str(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    if key not in raw:
        return None
    return _str(raw, key, where)


def _str_list(raw: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PinsError(f"{where}: `{key}` must be a list of strings")
    return tuple(value)
