"""`sriov-e2e`: doctor, fake VF pools, inspect (the pool health check), fake sysfs helpers.

Command names and JSON keys are a contract: other parts of the harness and users' alerting rely on them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from sriov_e2e import fakesys, inventory, pools, probe
from sriov_e2e.cluster.layout import LocalSettings
from sriov_e2e.cluster.local import LocalCluster
from sriov_e2e.errors import BadInput, HarnessError
from sriov_e2e.model import Pool
from sriov_e2e.state import State, state_dir
from sriov_e2e.undo import interrupts_as_exceptions

EXIT_WARN = 3  # inspect --warn-at: utilization above the threshold or a leaked VF


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def cmd_doctor(args: argparse.Namespace) -> int:
    caps = probe.probe()
    backend, why = probe.vf_backend_choice(caps)
    if args.json:
        print(json.dumps({"capabilities": [c.as_dict() for c in caps], "vf_backend": backend,
                          "vf_backend_reason": why}, indent=2))
    else:
        print(_table([["CAPABILITY", "OK", "DETAIL"]] + [[c.name, "yes" if c.ok else "no", c.detail] for c in caps]))
        print(f"\nVF backend: {backend or 'none'} — {why}")
    return 0


def cmd_vfs_create(args: argparse.Namespace) -> int:
    backend = args.backend
    if backend == "auto":
        backend, why = probe.vf_backend_choice(probe.probe())
        if backend is None:
            raise HarnessError(f"no VF backend works on this host: {why}")
    rec = pools.create(State(args.state_dir), args.pf, args.count, backend, args.resource, args.flavor,
                       args.netns, watch=not args.no_watch)
    s = rec.spec
    print(f"created PF {s.pf_name} ({s.pf_pci_address}, backend {s.backend}, resource {s.resource}) with "
          f"{len(s.vfs)} VFs {s.vfs[0].pci_address}..{s.vfs[-1].pci_address}; fake PCI tree "
          f"{State(args.state_dir).pci_root}")
    return 0


def cmd_vfs_destroy(args: argparse.Namespace) -> int:
    pools.destroy(State(args.state_dir), args.pf)
    print(f"destroyed PF {args.pf} and its VFs")
    return 0


def cmd_vfs_pf_link(args: argparse.Namespace) -> int:
    pools.set_pf_link(State(args.state_dir), args.pf, args.state == "up")
    print(f"PF {args.pf} link {args.state}")
    return 0


def _selected_pools(args: argparse.Namespace) -> list[Pool]:
    st, mount_ns_pid = State(args.state_dir), None
    if args.cluster:  # a local cluster's pool, its sandbox netns seen through the node's mount namespace
        cluster = LocalCluster(LocalSettings(name=args.cluster))
        if not cluster.status().get("up"):
            raise BadInput(f"cluster {args.cluster}: not up (sriov-e2e cluster status --name {args.cluster})")
        st, mount_ns_pid = cluster.pool_state, cluster.node_ns_pid()
    view = inventory.read_node(args.netns, mount_ns_pid=mount_ns_pid)
    recorded = {r.spec.pf_name: r.spec for r in st.all()}
    if args.pf:
        spec = recorded.get(args.pf)
        if spec is None:
            try:
                spec = inventory.spec_from_sysfs(args.pf, args.resource or "")
            except BadInput as e:
                raise BadInput(f"{e}; and no sriov-e2e pool of that name in {st.root}") from None
        return [inventory.build_pool(spec, view)]
    specs = list(recorded.values()) + [inventory.spec_from_sysfs(pf, args.resource or "")
                                       for pf in inventory.real_sriov_pfs() if pf not in recorded]
    return [inventory.build_pool(s, view) for s in specs]


def _config_text(pool: Pool, i: int) -> str:
    cfg = pool.vfs[i].config
    if cfg is None:
        return "-"
    parts = [f"mac {cfg.mac}", f"vlan {cfg.vlan}"]
    parts += [f"{k} {'on' if v else 'off'}" for k, v in (("spoofchk", cfg.spoofchk), ("trust", cfg.trust))
              if v is not None]
    if cfg.link_state:
        parts.append(f"link-state {cfg.link_state}")
    if cfg.max_tx_rate:
        parts.append(f"max_tx_rate {cfg.max_tx_rate}")
    return ", ".join(parts)


def _print_pool(pool: Pool) -> None:
    pf = pool.pf
    state = "absent" if not pf.present else f"{'up' if pf.admin_up else 'down'}/{pf.oper_state}"
    print(f"PF {pf.name} {pf.pci_address} [{pool.backend}] {pool.resource or '-'}  link {state}")
    print(f"  total {pool.total}  in use {pool.in_use}  available {pool.available}  leaked {pool.leaked}  "
          f"missing {pool.missing}  utilization {pool.in_use}/{pool.total} ({pool.utilization_pct:.0f}%)")
    rows = [["IDX", "PCI", "NAME", "NETNS", "ADMIN", "OPER", "CARRIER", "CLASS", "CONFIG"]]
    for i, vf in enumerate(pool.vfs):
        rows.append([str(vf.index), vf.pci_address, vf.name or "-", vf.netns or "host",
                     "-" if vf.admin_up is None else ("up" if vf.admin_up else "down"), vf.oper_state or "-",
                     "-" if vf.carrier is None else ("yes" if vf.carrier else "no"), vf.vf_class.value,
                     _config_text(pool, i)])
    print("  " + _table(rows).replace("\n", "\n  "))


def cmd_inspect(args: argparse.Namespace) -> int:
    if args.warn_at is not None and not 0 <= args.warn_at <= 100:
        raise BadInput(f"--warn-at {args.warn_at}: want a percentage 0..100")
    selected = _selected_pools(args)
    if args.json:
        print(json.dumps({"pfs": [p.as_dict() for p in selected]}, indent=2))
    elif not selected:
        print("no SR-IOV PF and no sriov-e2e pool on this host")
    for p in selected if not args.json else []:
        _print_pool(p)
    if args.warn_at is None:
        return 0
    alerts = [f"PF {p.pf.name}: {p.leaked} leaked VF(s)" for p in selected if p.leaked] + [
        f"PF {p.pf.name}: {p.in_use}/{p.total} VFs in use, above {args.warn_at:g}%"
        for p in selected if p.utilization_pct > args.warn_at]
    for a in alerts:
        print(f"sriov-e2e: warning: {a}", file=sys.stderr)
    return EXIT_WARN if alerts else 0


def cmd_fakesys_exec(args: argparse.Namespace) -> int:
    if not args.argv:
        raise BadInput("fakesys exec: give a command after --")
    st = State(args.state_dir)
    pools.sync_fake_net(st)
    argv = fakesys.exec_argv(st.pci_root, args.argv)
    os.execvp(argv[0], argv)


def cmd_fakesys_wrap(args: argparse.Namespace) -> int:
    fakesys.write_wrapper(Path(args.dest), Path(args.upstream), State(args.state_dir).pci_root)
    return 0


def cmd_fakesys_sync(args: argparse.Namespace) -> int:
    print(f"{pools.sync_fake_net(State(args.state_dir))} net/ entries changed")
    return 0


def cmd_fakesys_watch(args: argparse.Namespace) -> int:
    fakesys.watch(State(args.state_dir))
    return 0


def _cluster(args: argparse.Namespace) -> LocalCluster:
    base = LocalSettings()
    overrides = {k: getattr(args, k, None) for k in ("name", "pf", "vf_count", "vf_backend", "resource")}
    if args.root:
        overrides["root"] = Path(args.root)
    overrides.update({k: getattr(args, k) for k in base.ports if getattr(args, k, None) is not None})
    return LocalCluster(base.with_overrides(**overrides))


def cmd_cluster_up(args: argparse.Namespace) -> int:
    _cluster(args).up()
    return 0


def cmd_cluster_down(args: argparse.Namespace) -> int:
    _cluster(args).down()
    return 0


def cmd_cluster_status(args: argparse.Namespace) -> int:
    st = _cluster(args).status()
    if args.json:
        print(json.dumps(st, indent=2))
    else:
        for k, v in st.items():
            print(f"{k}: {v}")
    return 0 if st.get("up") else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sriov-e2e", description=__doc__)
    p.add_argument("--state-dir", type=Path, default=None, help="harness state dir (env SRIOV_E2E_STATE_DIR, "
                   "default /run/sriov-e2e)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("doctor", help="what this host can do, with the reason for each no")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_doctor)

    vfs = sub.add_parser("vfs", help="fake VF pools on this host").add_subparsers(dest="vfs_command", required=True)
    c = vfs.add_parser("create", help="create a fake PF with N VFs and its fake PCI functions")
    c.add_argument("--pf", required=True)
    c.add_argument("--count", type=int, required=True)
    c.add_argument("--backend", default="auto", choices=["auto", "veth", "dummy", "netdevsim"])
    c.add_argument("--resource", default=pools.DEFAULT_RESOURCE)
    c.add_argument("--flavor", default="mlx5", help="PCI IDs and drivers the fake claims: mlx5 or i40e")
    c.add_argument("--netns", default=None, help="node netns (ip netns name or path); default this host's")
    c.add_argument("--no-watch", action="store_true", help="do not start the fake sysfs net/ watcher")
    c.set_defaults(func=cmd_vfs_create)
    x = vfs.add_parser("destroy", help="remove a fake pool and everything it made")
    x.add_argument("--pf", required=True)
    x.set_defaults(func=cmd_vfs_destroy)
    pl = vfs.add_parser("pf-link", help="pull or plug the fake PF's cable")
    pl.add_argument("--pf", required=True)
    pl.add_argument("--state", required=True, choices=["up", "down"])
    pl.set_defaults(func=cmd_vfs_pf_link)

    i = sub.add_parser("inspect", help="pool health: total, in use, available, leaked, per-VF state")
    i.add_argument("--pf", default=None)
    i.add_argument("--json", action="store_true")
    i.add_argument("--warn-at", type=float, default=None, metavar="PCT",
                   help="exit 3 when in-use/total exceeds PCT or any VF is leaked (alert at 80)")
    i.add_argument("--resource", default=None, help="resource name to report for real PFs")
    i.add_argument("--netns", default=None, help="node netns (ip netns name or path); default this host's")
    i.add_argument("--cluster", default=None, metavar="NAME", help="the pool of a local cluster (sriov-e2e cluster up)")
    i.set_defaults(func=cmd_inspect)

    cl = sub.add_parser("cluster", help="the local backend: a real single-node cluster with the SR-IOV stack")
    clsub = cl.add_subparsers(dest="cluster_command", required=True)
    for name, func, helptext in (("up", cmd_cluster_up, "start it; returns when the pool is advertised"),
                                 ("down", cmd_cluster_down, "remove everything it made"),
                                 ("status", cmd_cluster_status, "what runs, node Ready, allocatable")):
        c2 = clsub.add_parser(name, help=helptext)
        c2.add_argument("--name", default=None, help="cluster name (default sriov-e2e)")
        c2.add_argument("--root", default=None, help="parent of the cluster state dir (env "
                        "SRIOV_E2E_CLUSTER_ROOT, default /var/tmp/sriov-e2e)")
        c2.set_defaults(func=func)
        if name == "up":
            c2.add_argument("--pf", default=None)
            c2.add_argument("--vf-count", type=int, default=None)
            c2.add_argument("--vf-backend", default=None)
            c2.add_argument("--resource", default=None)
            for port in LocalSettings().ports:
                c2.add_argument(f"--{port.replace('_', '-')}", dest=port, type=int, default=None)
        if name == "status":
            c2.add_argument("--json", action="store_true")

    f = sub.add_parser("fakesys", help="the fake PCI tree").add_subparsers(dest="fakesys_command", required=True)
    e = f.add_parser("exec", help="run a command that sees the fake tree as /sys/bus/pci")
    e.add_argument("argv", nargs=argparse.REMAINDER)
    e.set_defaults(func=cmd_fakesys_exec)
    w = f.add_parser("wrap", help="write a wrapper that runs an upstream binary under the fake tree")
    w.add_argument("--upstream", required=True)
    w.add_argument("--dest", required=True)
    w.set_defaults(func=cmd_fakesys_wrap)
    f.add_parser("sync", help="update net/ entries once").set_defaults(func=cmd_fakesys_sync)
    f.add_parser("watch", help="keep net/ entries truthful until SIGTERM").set_defaults(func=cmd_fakesys_watch)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.state_dir = state_dir(str(args.state_dir) if args.state_dir else None)
    if getattr(args, "argv", None) and args.argv[0] == "--":
        args.argv = args.argv[1:]
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        with interrupts_as_exceptions():
            return int(args.func(args))
    except HarnessError as e:
        print(f"sriov-e2e: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        print(f"sriov-e2e: interrupted ({e or 'SIGINT'}); what was created has been removed", file=sys.stderr)
        return 130
