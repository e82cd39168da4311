"""Container images without a registry: OCI image-layout tars built from Debian's busybox-static.

The archives import with ``ctr -n k8s.io images import <tar>`` and ``kind load image-archive <tar>``.
Everything is deterministic (fixed mtimes, owners and gzip header), so the same busybox gives the same
digests on every machine.

Standard library only.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import shutil
import struct
import subprocess
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .pins import Image, split_ref

__all__ = [
    "BUSYBOX_PATH",
    "IMAGE_RECIPE_REVISION",
    "PAUSE_SCRIPT",
    "Entry",
    "ImageConfig",
    "OciArchive",
    "busybox_applets",
    "ensure_busybox",
    "image_spec",
    "is_static_elf",
    "oci_arch",
    "write_oci_archive",
]

# Bump when the image contents or the archive format change: it is part of every image's stamp key.
IMAGE_RECIPE_REVISION = "1"
BUSYBOX_PATH = Path("/bin/busybox")
EPOCH = "1970-01-01T00:00:00Z"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The pause container: PID 1 of the sandbox, exits 0 on TERM or INT (sh runs traps while in `wait`).
PAUSE_SCRIPT = "#!/bin/sh\ntrap 'exit 0' TERM INT\nwhile :; do sleep 3600 & wait $!; done\n"
# Default command of the test pod: idle, and stop at once on TERM/INT (pods usually set their own command).
IDLE_CMD = ("/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done")

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class Entry:
    """One file-system entry of the image's single layer."""

    path: str  # relative, no leading slash: "bin/sh"
    kind: str  # "dir" | "file" | "symlink"
    mode: int = 0o755
    data: bytes = b""
    target: str = ""


@dataclass(frozen=True)
class ImageConfig:
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = (PATH_ENV,)
    workdir: str = "/"
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class OciArchive:
    """What was written: the archive and its digests (for logs and tests)."""

    path: Path
    refs: tuple[str, ...]
    manifest_digest: str
    config_digest: str
    layer_digest: str
    diff_id: str
    size: int
    extra: dict[str, str] = field(default_factory=dict)


def oci_arch(machine: str | None = None) -> str:
    """Host machine name -> OCI architecture."""
    m = (machine or platform.machine()).lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(m, m)


def is_static_elf(path: Path) -> bool:
    """True for an ELF executable without a PT_INTERP program header (no dynamic loader)."""
    with path.open("rb") as fh:
        head = fh.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF":
            return False
        is64 = head[4] == 2
        endian = "<" if head[5] == 1 else ">"
        if is64:
            phoff = struct.unpack_from(endian + "Q", head, 0x20)[0]
            phentsize, phnum = struct.unpack_from(endian + "HH", head, 0x36)
        else:
            phoff = struct.unpack_from(endian + "I", head, 0x1C)[0]
            phentsize, phnum = struct.unpack_from(endian + "HH", head, 0x2A)
        for i in range(phnum):
            fh.seek(phoff + i * phentsize)
            (p_type,) = struct.unpack(endian + "I", fh.read(4))
            if p_type == 3:  # PT_INTERP
                return False
    return True


def ensure_busybox(path: Path = BUSYBOX_PATH, *, install: bool = True) -> Path:
    """Return a static busybox; install Debian's busybox-static with apt-get when missing (root only)."""
    if path.is_file() and is_static_elf(path):
        return path
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = ["apt-get", "install", "-y", "--no-install-recommends", "busybox-static"]
        if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"apt-get install busybox-static failed:\n{proc.stderr[-2000:]}")
    if path.is_file() and is_static_elf(path):
        return path
    raise RuntimeError(
        f"{path} is missing or not static: install Debian's busybox-static "
        "(apt-get install -y --no-install-recommends busybox-static)"
    )


def busybox_applets(busybox: Path) -> list[str]:
    out = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True).stdout
    return sorted({a.strip() for a in out.split() if a.strip() and "/" not in a and a != "busybox"})


def _base_entries() -> list[Entry]:
    entries = [Entry(d, "dir") for d in ("bin", "dev", "etc", "proc", "root", "sys", "usr", "var")]
    entries += [
        Entry("tmp", "dir", 0o1777),
        Entry("run", "dir"),
        Entry("sbin", "symlink", target="bin"),
        Entry("usr/bin", "symlink", target="../bin"),
        Entry("usr/sbin", "symlink", target="../bin"),
        Entry("var/run", "symlink", target="../run"),
        Entry(
            "etc/passwd", "file", 0o644, b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
        ),
        Entry("etc/group", "file", 0o644, b"root:x:0:\nnogroup:x:65534:\n"),
    ]
    return entries


def image_spec(name: str, busybox: Path, applets: Sequence[str]) -> tuple[list[Entry], ImageConfig]:
    """Layer entries and config of one of our images ("pause" or "testpod")."""
    bb = busybox.read_bytes()
    entries = _base_entries()
    entries.append(Entry("bin/busybox", "file", 0o755, bb))
    if name == "pause":
        for applet in ("sh", "sleep"):
            entries.append(Entry(f"bin/{applet}", "symlink", target="busybox"))
        entries.append(Entry("pause", "file", 0o755, PAUSE_SCRIPT.encode()))
        return entries, ImageConfig(entrypoint=("/pause",), labels=(("io.sriov-e2e.image", "pause"),))
    if name == "testpod":
        for applet in applets:
            entries.append(Entry(f"bin/{applet}", "symlink", target="busybox"))
        return entries, ImageConfig(cmd=IDLE_CMD, labels=(("io.sriov-e2e.image", "testpod"),))
    raise ValueError(f"unknown image {name!r} (known: pause, testpod)")


def build_layer(entries: Iterable[Entry]) -> tuple[bytes, bytes]:
    """Deterministic layer: (uncompressed tar, gzip of it)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in sorted(entries, key=lambda x: x.path):
            info = tarfile.TarInfo(e.path)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = e.mode
            if e.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif e.kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = e.target
                info.mode = 0o777
                tar.addfile(info)
            elif e.kind == "file":
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
            else:
                raise ValueError(f"bad entry kind {e.kind!r} for {e.path}")
    tar_bytes = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", compresslevel=6, mtime=0, filename="") as fh:
        fh.write(tar_bytes)
    return tar_bytes, gz.getvalue()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def write_oci_archive(
    out: Path,
    entries: Iterable[Entry],
    config: ImageConfig,
    refs: Sequence[str],
    *,
    arch: str | None = None,
) -> OciArchive:
    """Write an OCI image-layout tar with one manifest named by every ref in ``refs``."""
    if not refs:
        raise ValueError("at least one image ref is needed")
    architecture = arch or oci_arch()
    tar_bytes, gz_bytes = build_layer(entries)
    diff_id = _digest(tar_bytes)
    layer_digest = _digest(gz_bytes)
    cfg: dict[str, Any] = {
        "Env": list(config.env),
        "WorkingDir": config.workdir,
    }
    if config.entrypoint:
        cfg["Entrypoint"] = list(config.entrypoint)
    if config.cmd:
        cfg["Cmd"] = list(config.cmd)
    if config.labels:
        cfg["Labels"] = dict(config.labels)
    config_bytes = _json(
        {
            "architecture": architecture,
            "os": "linux",
            "created": EPOCH,
            "config": cfg,
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": EPOCH, "created_by": "sriov_e2e.toolchain.images"}],
        }
    )
    config_digest = _digest(config_bytes)
    manifest_bytes = _json(
        {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": {"mediaType": MT_CONFIG, "digest": config_digest, "size": len(config_bytes)},
            "layers": [{"mediaType": MT_LAYER_GZIP, "digest": layer_digest, "size": len(gz_bytes)}],
        }
    )
    manifest_digest = _digest(manifest_bytes)
    manifests = []
    for ref in refs:
        _, tag = split_ref(ref)
        manifests.append(
            {
                "mediaType": MT_MANIFEST,
                "digest": manifest_digest,
                "size": len(manifest_bytes),
                "platform": {"architecture": architecture, "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": ref,
                    "org.opencontainers.image.ref.name": tag,
                },
            }
        )
    index_bytes = _json({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": manifests})

    files: list[tuple[str, bytes]] = [
        ("oci-layout", _json({"imageLayoutVersion": "1.0.0"})),
        ("index.json", index_bytes),
    ]
    for digest, data in sorted(
        {
            manifest_digest: manifest_bytes,
            config_digest: config_bytes,
            layer_digest: gz_bytes,
        }.items()
    ):
        files.append((f"blobs/sha256/{digest.removeprefix('sha256:')}", data))

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = 0
            tar.addfile(info)
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, out)
    return OciArchive(
        path=out,
        refs=tuple(refs),
        manifest_digest=manifest_digest,
        config_digest=config_digest,
        layer_digest=layer_digest,
        diff_id=diff_id,
        size=out.stat().st_size,
    )


def build_image(image: Image, out_dir: Path, busybox: Path) -> OciArchive:
    """Build one pinned image into ``out_dir/<name>.tar``."""
    applets = busybox_applets(busybox)
    entries, config = image_spec(image.name, busybox, applets)
    return write_oci_archive(out_dir / f"{image.name}.tar", entries, config, image.refs)


def image_recipe(image: Image, busybox: Path) -> dict[str, str]:
    """What an image's stamp is keyed by."""
    return {
        "revision": IMAGE_RECIPE_REVISION,
        "refs": " ".join(image.refs),
        "package": image.package,
        "busybox_sha256": hashlib.sha256(busybox.read_bytes()).hexdigest(),
        "arch": oci_arch(),
    }
