"""`make bench`: how fast and how heavy the harness is, measured (never asserted).

Measures fake pool create/destroy and an inventory walk for growing pools (half of the VFs in netns held by
live processes, as pods would hold them), optionally a local cluster's up and down, the harness's peak memory,
and summarizes the last e2e run's flow timings. Writes a table and `artifacts/bench/bench-<time>.json`.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sriov_e2e import inventory, pools
from sriov_e2e.cluster.layout import LocalSettings
from sriov_e2e.cluster.local import LocalCluster
from sriov_e2e.state import PREFIX, State


@contextmanager
def _held_netns(count: int) -> Iterator[list[str]]:
    """`count` named netns, each held by a live process (what a pod sandbox looks like), removed afterwards."""
    names, holders = [], []
    try:
        for _ in range(count):
            name = f"{PREFIX}-bench-{uuid.uuid4().hex[:8]}"
            subprocess.run(["ip", "netns", "add", name], check=True)
            names.append(name)
            holders.append(subprocess.Popen(["ip", "netns", "exec", name, "sleep", "600"]))
        yield names
    finally:
        for h in holders:
            h.terminate()
            h.wait()
        for name in names:
            subprocess.run(["ip", "netns", "delete", name], check=False)


def bench_pool(count: int, repeat: int) -> dict[str, Any]:
    create, destroy, walk = [], [], []
    for _ in range(repeat):
        state = State(Path(f"/run/{PREFIX}-bench-{uuid.uuid4().hex[:8]}"))
        pf = f"b{uuid.uuid4().hex[:5]}"
        t0 = time.monotonic()
        rec = pools.create(state, pf, count, "veth", watch=False)
        create.append(time.monotonic() - t0)
        try:
            with _held_netns(count // 2) as netns:
                for i, ns in enumerate(netns):
                    subprocess.run(["ip", "link", "set", f"{pf}v{i}", "netns", ns], check=True)
                t0 = time.monotonic()
                pool = inventory.build_pool(rec.spec, inventory.read_node())
                walk.append(time.monotonic() - t0)
                if pool.in_use != count // 2:
                    raise RuntimeError(f"bench: inventory found {pool.in_use} VFs in use, want {count // 2}")
        finally:
            t0 = time.monotonic()
            pools.destroy(state, pf)
            destroy.append(time.monotonic() - t0)
    return {"vfs": count, "netns": count // 2, "create_s": statistics.median(create),
            "inventory_walk_s": statistics.median(walk), "destroy_s": statistics.median(destroy)}


def bench_cluster() -> dict[str, Any]:
    c = LocalCluster(LocalSettings(name="sriov-e2e-bench", etcd_port=24379, etcd_peer_port=24380,
                                   apiserver_port=28443, controller_manager_port=23257, scheduler_port=23259,
                                   kubelet_port=23250, kubelet_healthz_port=23248))
    t0 = time.monotonic()
    c.up(progress=lambda _: None)
    up = time.monotonic() - t0
    t0 = time.monotonic()
    c.down(progress=lambda _: None)
    return {"cluster_up_s": up, "cluster_down_s": time.monotonic() - t0}


def last_e2e_timings(artifacts: Path) -> dict[str, float]:
    runs = sorted(artifacts.glob("e2e-*/timings.json"))
    if not runs:
        return {}
    flows = json.loads(runs[-1].read_text())
    return {f["flow"]: max(f["phases"]["flow total"]) for f in flows if f.get("phases", {}).get("flow total")}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sriov_e2e.bench", description=__doc__)
    p.add_argument("--sizes", default="8,32,128", help="pool sizes to measure")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--cluster", action="store_true", help="also time a local cluster's up and down")
    p.add_argument("--out", type=Path, default=Path("artifacts/bench"))
    args = p.parse_args(argv)
    result: dict[str, Any] = {"pools": [bench_pool(int(n), args.repeat) for n in args.sizes.split(",")]}
    if args.cluster:
        result["cluster"] = bench_cluster()
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["e2e_flow_total_s"] = last_e2e_timings(Path("artifacts"))
    print(f"{'VFs':>5} {'netns':>6} {'create':>8} {'inventory':>10} {'destroy':>8}")
    for r in result["pools"]:
        print(f"{r['vfs']:>5} {r['netns']:>6} {r['create_s']:>7.2f}s {r['inventory_walk_s']:>9.3f}s "
              f"{r['destroy_s']:>7.2f}s")
    if "cluster" in result:
        print(f"local cluster: up {result['cluster']['cluster_up_s']:.1f}s, down "
              f"{result['cluster']['cluster_down_s']:.1f}s")
    print(f"peak RSS of the harness: {result['peak_rss_mib']} MiB")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / time.strftime("bench-%Y%m%d-%H%M%S.json")
    out.write_text(json.dumps(result, indent=2))
    print(f"saved to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
