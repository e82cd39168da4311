"""``python3 -m sriov_e2e.toolchain {build,paths,versions}``.

build     build (idempotently) every pinned component and image into the cache dir
paths     print where everything is (``--json`` for tools)
versions  print the pins of versions.toml
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .build import Layout, build_all, default_cache_dir, select
from .pins import Pins, PinsError, load_pins


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python3 -m sriov_e2e.toolchain", description=__doc__.split("\n\n", 1)[0])
    p.add_argument(
        "--versions-file", type=Path, default=None, help="pin file (default: versions.toml at the repo root)"
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="cache dir (default: $SRIOV_E2E_CACHE or /var/cache/sriov-e2e)",
    )
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the pinned components and images (cached)")
    b.add_argument("--only", nargs="+", default=[], metavar="NAME", help="component, binary or image names")
    b.add_argument("--force", action="store_true", help="rebuild even when the stamp is fresh")
    b.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    pa = sub.add_parser("paths", help="print the cache layout")
    pa.add_argument("--json", action="store_true")
    v = sub.add_parser("versions", help="print the pins")
    v.add_argument("--json", action="store_true")
    return p


def paths_data(pins: Pins, layout: Layout) -> dict[str, Any]:
    binaries: dict[str, str] = {}
    for comp in pins.components:
        for name in comp.binary_names:
            binaries[name] = str(layout.dest(comp) / name)
    return {
        "cache_dir": str(layout.cache),
        "bin_dir": str(layout.bin),
        "cni_bin_dir": str(layout.cni_bin),
        "images_dir": str(layout.images),
        "logs_dir": str(layout.logs),
        "versions_file": str(pins.path),
        "binaries": binaries,
        "missing": sorted(name for name, path in binaries.items() if not Path(path).is_file()),
        "blocked": {c.name: c.blocked for c in pins.components if c.blocked},
        "images": {
            img.name: {
                "path": str(layout.image_path(img)),
                "ref": img.ref,
                "refs": list(img.refs),
                "exists": layout.image_path(img).is_file(),
            }
            for img in pins.images
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        pins = load_pins(args.versions_file)
    except PinsError as exc:
        print(f"toolchain: {exc}", file=sys.stderr)
        return 2
    layout = Layout(args.cache if args.cache is not None else default_cache_dir())

    if args.command == "build":
        try:
            select(pins, args.only)
        except PinsError as exc:
            print(f"toolchain: {exc}", file=sys.stderr)
            return 2
        return build_all(pins, layout, args.only, force=args.force, keep_going=not args.fail_fast)

    if args.command == "paths":
        data = paths_data(pins, layout)
        if args.json:
            print(json.dumps(data, indent=2, sort_keys=True))
        else:
            for key in ("cache_dir", "bin_dir", "cni_bin_dir", "images_dir", "logs_dir", "versions_file"):
                print(f"{key:<14} {data[key]}")
            for name, img in data["images"].items():
                print(f"image {name:<8} {img['path']}  ({', '.join(img['refs'])})")
            if data["missing"]:
                print("missing        " + " ".join(data["missing"]))
        return 0

    if args.command == "versions":
        if args.json:
            print(json.dumps(pins.as_dict(), indent=2, sort_keys=True))
        else:
            print(f"# {pins.path} (Go >= {pins.go_min})")
            for comp in pins.components:
                extra = "" if comp.module_version == comp.version else f" (module {comp.module_version})"
                note = "  [UNAVAILABLE from the module proxy]" if comp.blocked else ""
                print(f"{comp.name:<14} {comp.version:<10} {comp.module}{extra}{note}")
            for img in pins.images:
                print(f"image {img.name:<8} {', '.join(img.refs)}")
        return 0
    return 2  # pragma: no cover  (argparse enforces the choices)


if __name__ == "__main__":
    sys.exit(main())
