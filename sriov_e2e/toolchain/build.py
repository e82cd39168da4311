"""Build the pinned Go components and the local images into one cache directory.

Layout under the cache dir (``$SRIOV_E2E_CACHE``, default ``/var/cache/sriov-e2e``)::

    bin/<binary>             Kubernetes, etcd, multus, sriovdp, kind, crictl
    cni-bin/<plugin>         CNI plugins (bridge, host-device, ..., sriov)
    images/<name>.tar        OCI image-layout archives (pause, testpod)
    gomod/<component>/       generated build modules (go.mod, go.sum)
    stamps/<name>.json       what was built, keyed by version + recipe hash
    logs/<name>.log          output of the last build of each component
    .lock                    flock: one build at a time per cache dir

Go's own caches stay where ``go env GOMODCACHE GOCACHE`` says (by default ``~/go/pkg/mod`` and
``~/.cache/go-build``); set those variables to move them.

Standard library only.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from . import images as images_mod
from .pins import Component, Image, Pins, PinsError, go_version_tuple

__all__ = [
    "RECIPE_REVISION",
    "BuildError",
    "Layout",
    "Result",
    "build_all",
    "component_recipe",
    "default_cache_dir",
    "find_go",
    "recipe_hash",
    "render_gomod",
    "select",
    "staging_modules",
    "stamp_is_fresh",
]

# Bump when the way components are built changes (flags, environment, go.mod generation).
RECIPE_REVISION = "1"
BUILD_FLAGS = ("-trimpath", "-mod=mod")
TAIL_LINES = 40


class BuildError(RuntimeError):
    def __init__(self, name: str, message: str, log: Path | None = None) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message
        self.log = log


@dataclass(frozen=True)
class Layout:
    cache: Path

    @property
    def bin(self) -> Path:
        return self.cache / "bin"

    @property
    def cni_bin(self) -> Path:
        return self.cache / "cni-bin"

    @property
    def images(self) -> Path:
        return self.cache / "images"

    @property
    def gomod(self) -> Path:
        return self.cache / "gomod"

    @property
    def stamps(self) -> Path:
        return self.cache / "stamps"

    @property
    def logs(self) -> Path:
        return self.cache / "logs"

    def dest(self, comp: Component) -> Path:
        return self.bin if comp.dest == "bin" else self.cni_bin

    def outputs(self, comp: Component) -> list[Path]:
        return [self.dest(comp) / name for name in comp.binary_names]

    def image_path(self, image: Image) -> Path:
        return self.images / f"{image.name}.tar"

    def stamp(self, name: str) -> Path:
        return self.stamps / f"{name}.json"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


@dataclass(frozen=True)
class Result:
    name: str
    version: str
    status: str  # "built" | "cached" | "blocked" | "failed"
    seconds: float = 0.0
    detail: str = ""


def default_cache_dir() -> Path:
    return Path(os.environ.get("SRIOV_E2E_CACHE") or "/var/cache/sriov-e2e")


def find_go() -> str:
    go = shutil.which("go") or next(
        (p for p in ("/usr/local/go/bin/go", "/usr/lib/go/bin/go") if os.access(p, os.X_OK)), None
    )
    if not go:
        raise BuildError("go", "no `go` on PATH (nor /usr/local/go/bin/go): install Go first")
    return go


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "CGO_ENABLED": "0",
            "GO111MODULE": "on",
            "GOWORK": "off",
            # A user's -mod=vendor or the like would break the generated modules.
            "GOFLAGS": "-buildvcs=false",
        }
    )
    return env


def go_version(go: str) -> str:
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, env=go_env())
    version = out.stdout.strip()
    if out.returncode != 0 or not version.startswith("go"):
        raise BuildError("go", f"`go env GOVERSION` failed: {out.stderr.strip()[-500:]}")
    return version


def component_recipe(comp: Component, go_ver: str) -> dict[str, Any]:
    """Everything a component's build depends on, apart from the downloaded sources themselves."""
    data = asdict(comp)
    for key in ("blocked", "blocked_error"):
        data.pop(key, None)
    if not data.get("require"):
        # Added after the first stamps were written: leaving the empty default out keeps them valid.
        data.pop("require", None)
    return {
        "revision": RECIPE_REVISION,
        "go": go_ver,
        "flags": list(BUILD_FLAGS),
        "machine": platform.machine(),
        "component": data,
    }


def recipe_hash(recipe: dict[str, Any]) -> str:
    blob = json.dumps(recipe, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def stamp_is_fresh(stamp: Path, version: str, digest: str, outputs: Sequence[Path]) -> bool:
    """True when ``stamp`` records this version and recipe hash and every output is a non-empty file."""
    try:
        data = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    if data.get("version") != version or data.get("recipe_hash") != digest:
        return False
    for out in outputs:
        try:
            if not out.is_file() or out.stat().st_size == 0:
                return False
        except OSError:
            return False
    return True


def write_stamp(stamp: Path, name: str, version: str, digest: str, outputs: Sequence[Path], seconds: float) -> None:
    stamp.parent.mkdir(parents=True, exist_ok=True)
    tmp = stamp.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {
                "name": name,
                "version": version,
                "recipe_hash": digest,
                "outputs": [str(p) for p in outputs],
                "seconds": round(seconds, 1),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
            indent=2,
        )
        + "\n"
    )
    os.replace(tmp, stamp)


def staging_modules(kubernetes_gomod: str) -> list[str]:
    """Modules that k8s.io/kubernetes' go.mod replaces with ``./staging/src/k8s.io/<name>``."""
    mods: set[str] = set()
    for line in kubernetes_gomod.splitlines():
        parts = line.split()
        if "=>" not in parts:
            continue
        arrow = parts.index("=>")
        if arrow == 0 or arrow + 1 >= len(parts):
            continue
        old = parts[arrow - 1]
        new = parts[arrow + 1]
        if new.startswith("./staging/src/"):
            mods.add(old)
    return sorted(mods)


def staging_version(comp: Component) -> str:
    """v1.34.4 -> v0.34.4 (the version of the published staging modules)."""
    return "v0." + comp.version.removeprefix("v").split(".", 1)[1]


def render_gomod(comp: Component, staging: Sequence[str] = ()) -> str:
    lines = [
        "// Generated by sriov_e2e.toolchain.build from versions.toml: do not edit.",
        f"module sriov-e2e.local/build/{comp.name}",
        "",
        "go " + ".".join(str(x) for x in go_version_tuple(comp.go_min)),
        "",
    ]
    if comp.godebug:
        lines += [f"godebug {comp.godebug}", ""]
    lines.append("require (")
    lines.append(f"\t{comp.module} {comp.module_version}")
    for mod in comp.also_require:
        lines.append(f"\t{mod} {comp.module_version}")
    for mod, ver in comp.require:
        lines.append(f"\t{mod} {ver}")
    lines += [")", ""]
    replaces = list(comp.replace)
    if comp.staging_replaces:
        sv = staging_version(comp)
        replaces += [(mod, f"{mod} {sv}") for mod in staging]
    if replaces:
        lines.append("replace (")
        for old, new in replaces:
            lines.append(f"\t{old} => {new}")
        lines += [")", ""]
    return "\n".join(lines)


def _run(cmd: Sequence[str], cwd: Path, log: TextIO, env: dict[str, str]) -> int:
    log.write("$ " + shlex.join(cmd) + "\n")
    log.flush()
    proc = subprocess.run(list(cmd), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.write(f"[exit {proc.returncode}]\n")
    log.flush()
    return proc.returncode


def _tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    # `go: downloading ...` lines drown the error.
    text = [ln for ln in text if not ln.startswith("go: downloading ")]
    return "\n".join(text[-lines:])


def _module_download(go: str, module: str, version: str, cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [go, "mod", "download", "-json", f"{module}@{version}"], cwd=cwd, env=env, capture_output=True, text=True
    )
    try:
        info: dict[str, Any] = json.loads(proc.stdout) if proc.stdout.strip() else {}
    except ValueError:
        info = {}
    if proc.returncode != 0 or "Error" in info:
        err = str(info.get("Error") or proc.stderr.strip())
        raise BuildError(module, f"cannot download {module}@{version} from the Go module proxy:\n{err}")
    return info


def build_component(comp: Component, layout: Layout, go: str, go_ver: str, *, force: bool = False) -> Result:
    if comp.blocked:
        return Result(comp.name, comp.version, "blocked", detail=comp.blocked)
    outputs = layout.outputs(comp)
    digest = recipe_hash(component_recipe(comp, go_ver))
    stamp = layout.stamp(comp.name)
    if not force and stamp_is_fresh(stamp, comp.version, digest, outputs):
        return Result(comp.name, comp.version, "cached")

    start = time.monotonic()
    env = go_env()
    workdir = layout.gomod / comp.name
    workdir.mkdir(parents=True, exist_ok=True)
    staging_out = workdir / "out"
    shutil.rmtree(staging_out, ignore_errors=True)
    staging_out.mkdir()
    log_path = layout.log(comp.name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        log.write(f"# {comp.name} {comp.version} ({comp.module}@{comp.module_version}) with {go_ver}\n")
        try:
            info = _module_download(go, comp.module, comp.module_version, layout.gomod, env)
        except BuildError as exc:
            log.write(exc.message + "\n")
            raise BuildError(comp.name, exc.message.splitlines()[0], log_path) from exc
        module_time = _module_time(info)
        staging: list[str] = []
        if comp.staging_replaces:
            staging = staging_modules(Path(str(info["GoMod"])).read_text())
            if not staging:
                raise BuildError(comp.name, f"no ./staging replaces found in {info['GoMod']}", log_path)
        gomod = render_gomod(comp, staging)
        # Always start from the generated go.mod; `go build -mod=mod` adds the indirect requirements again
        # from the (local) module cache, and the kept go.sum saves re-verifying checksums.
        (workdir / "go.mod").write_text(gomod)
        log.write(gomod + "\n")
        ldflags = comp.ldflags(module_time)
        base = [go, "build", *BUILD_FLAGS, "-ldflags", ldflags]
        same_names = all(pkg.rstrip("/").rsplit("/", 1)[-1] == name for name, pkg in comp.binaries)
        if same_names:
            cmds = [[*base, "-o", str(staging_out) + "/", *(pkg for _, pkg in comp.binaries)]]
        else:
            cmds = [[*base, "-o", str(staging_out / name), pkg] for name, pkg in comp.binaries]
        for cmd in cmds:
            if _run(cmd, workdir, log, env) != 0:
                log.close()
                raise BuildError(comp.name, "go build failed", log_path)
    dest = layout.dest(comp)
    dest.mkdir(parents=True, exist_ok=True)
    for name in comp.binary_names:
        built = staging_out / name
        if not built.is_file():
            raise BuildError(comp.name, f"go build produced no {name}", log_path)
        os.replace(built, dest / name)
    shutil.rmtree(staging_out, ignore_errors=True)
    seconds = time.monotonic() - start
    write_stamp(stamp, comp.name, comp.version, digest, outputs, seconds)
    return Result(comp.name, comp.version, "built", seconds)


def _module_time(info: dict[str, Any]) -> str:
    info_path = info.get("Info")
    if info_path:
        try:
            data = json.loads(Path(str(info_path)).read_text())
            t = data.get("Time")
            if isinstance(t, str) and t:
                return t
        except (OSError, ValueError):
            pass
    return "1970-01-01T00:00:00Z"


def build_image_component(image: Image, layout: Layout, *, force: bool = False) -> Result:
    start = time.monotonic()
    busybox = images_mod.ensure_busybox()
    recipe = images_mod.image_recipe(image, busybox)
    digest = recipe_hash(recipe)
    out = layout.image_path(image)
    stamp = layout.stamp(f"image-{image.name}")
    if not force and stamp_is_fresh(stamp, image.ref, digest, [out]):
        return Result(image.name, image.ref, "cached")
    archive = images_mod.build_image(image, layout.images, busybox)
    seconds = time.monotonic() - start
    write_stamp(stamp, image.name, image.ref, digest, [out], seconds)
    return Result(image.name, image.ref, "built", seconds, detail=archive.manifest_digest)


def select(pins: Pins, only: Sequence[str]) -> tuple[list[Component], list[Image]]:
    """Resolve ``--only`` names: component, binary, image names, or "images"."""
    if not only:
        return list(pins.components), list(pins.images)
    comps: list[Component] = []
    imgs: list[Image] = []
    for name in only:
        found: list[Component | Image] = []
        if name == "images":
            found += list(pins.images)
        for comp in pins.components:
            if name == comp.name or name in comp.binary_names:
                found.append(comp)
        for img in pins.images:
            if name == img.name:
                found.append(img)
        if not found:
            known = sorted(
                {c.name for c in pins.components}
                | {b for c in pins.components for b in c.binary_names}
                | {i.name for i in pins.images}
                | {"images"}
            )
            raise PinsError(f"unknown component {name!r}; known: {', '.join(known)}")
        for item in found:
            if isinstance(item, Component) and item not in comps:
                comps.append(item)
            elif isinstance(item, Image) and item not in imgs:
                imgs.append(item)
    return comps, imgs


@contextmanager
def cache_lock(layout: Layout) -> Iterator[None]:
    layout.cache.mkdir(parents=True, exist_ok=True)
    with (layout.cache / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _print_result(res: Result, out: TextIO) -> None:
    if res.status == "built":
        what = f"built in {res.seconds:.1f}s"
    elif res.status == "cached":
        what = "cached"
    elif res.status == "blocked":
        what = "UNAVAILABLE, not built (see `blocked` in versions.toml)"
    else:
        what = f"FAILED after {res.seconds:.1f}s"
    out.write(f"{res.name:<14} {res.version:<34} {what}\n")
    out.flush()


def build_all(
    pins: Pins,
    layout: Layout,
    only: Sequence[str] = (),
    *,
    force: bool = False,
    keep_going: bool = True,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Build what ``only`` selects (everything by default). Returns the process exit code."""
    comps, imgs = select(pins, only)
    total_start = time.monotonic()
    failures: list[BuildError] = []
    with cache_lock(layout):
        go_ver = ""
        go = ""
        if any(not c.blocked for c in comps):
            try:
                go = find_go()
                go_ver = go_version(go)
            except BuildError as exc:
                err.write(f"toolchain: {exc.message}\n")
                return 2
            if go_version_tuple(go_ver) < go_version_tuple(pins.go_min):
                err.write(f"toolchain: {go_ver} is older than [go].min {pins.go_min} in {pins.path}\n")
                return 2
        out.write(f"toolchain: {go_ver or 'no Go needed'}, cache {layout.cache}\n")
        for comp in comps:
            start = time.monotonic()
            if out.isatty():
                out.write(f"{comp.name:<14} {comp.version:<34} building ...\r")
                out.flush()
            try:
                res = build_component(comp, layout, go, go_ver, force=force)
            except BuildError as exc:
                res = Result(comp.name, comp.version, "failed", time.monotonic() - start)
                failures.append(BuildError(comp.name, exc.message, exc.log or layout.log(comp.name)))
                _print_result(res, out)
                _report_failure(failures[-1], err)
                if not keep_going:
                    break
                continue
            _print_result(res, out)
            if res.status == "blocked":
                err.write(f"  {comp.name}: {comp.blocked}\n")
                if comp.blocked_error:
                    err.write(f"  {comp.name}: module proxy said: {comp.blocked_error}\n")
        if not failures or keep_going:
            for img in imgs:
                start = time.monotonic()
                try:
                    res = build_image_component(img, layout, force=force)
                except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
                    res = Result(img.name, img.ref, "failed", time.monotonic() - start)
                    failures.append(BuildError(img.name, str(exc)))
                    _print_result(res, out)
                    _report_failure(failures[-1], err)
                    if not keep_going:
                        break
                    continue
                _print_result(res, out)
    out.write(f"total {time.monotonic() - total_start:.1f}s; bin dir {layout.bin}\n")
    if failures:
        err.write("FAILED: " + ", ".join(f.name for f in failures) + "\n")
        return 1
    return 0


def _report_failure(exc: BuildError, err: TextIO) -> None:
    err.write(f"--- {exc.name}: {exc.message}\n")
    if exc.log is not None:
        tail = _tail(exc.log)
        if tail:
            err.write(tail + "\n")
        err.write(f"--- full log: {exc.log}\n")
    err.flush()
