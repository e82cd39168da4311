"""The `local` backend: a real single-node Kubernetes run as processes on this host, with the SR-IOV stack on it.

Control plane (etcd, kube-apiserver, controller-manager, scheduler) runs as plain host processes; the node
(containerd, kubelet, sriovdp, and the CNI plugins containerd calls) runs in one private mount namespace where
/var/lib, /var/log and /run are overlays whose writes land in the cluster's state dir, so upstream's hard-coded
paths (/var/lib/kubelet/device-plugins, /var/lib/cni, /run/netns, ...) work without touching the host's.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import allure
import yaml

from sriov_e2e import cni, fakesys, inventory, netns, podresources, pools, vfbackends
from sriov_e2e.cluster import hostfx, manifests
from sriov_e2e.cluster.backend import Cap
from sriov_e2e.cluster.layout import Layout, LocalSettings
from sriov_e2e.cluster.pki import Pki, write_kubeconfig
from sriov_e2e.cluster.procs import Supervisor
from sriov_e2e.errors import BadInput, HarnessError, Unsupported
from sriov_e2e.k8s import Kube
from sriov_e2e.model import Pool
from sriov_e2e.podresources import Assignment
from sriov_e2e.state import PoolRecord, State
from sriov_e2e.timeouts import TIMEOUTS, Timeouts
from sriov_e2e.toolchain.__main__ import paths_data
from sriov_e2e.toolchain.build import Layout as ToolLayout
from sriov_e2e.toolchain.build import default_cache_dir
from sriov_e2e.toolchain.pins import load_pins
from sriov_e2e.undo import UndoStack
from sriov_e2e.wait import NotYet, wait_until

NODE_NS = "node-ns"  # the process that pins the node's mount namespace
CONTROL_PLANE = ("kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd")
OVERLAID = ("var/lib", "var/log", "run")
NEEDED_BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kubectl",
                   "crictl", "multus", "sriovdp", "bridge", "host-device", "host-local", "loopback")
HOST_BINARIES = ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "unshare", "nsenter", "mount")
MINIMAL_PCI_IDS = """\
# sriov-e2e: the IDs the fake PCI flavors use (pcidb needs a pci.ids; the host has none)
15b3  Mellanox Technologies
\t1017  MT27800 Family [ConnectX-5]
\t1018  MT27800 Family [ConnectX-5 Virtual Function]
8086  Intel Corporation
\t154c  Ethernet Virtual Function 700 Series
\t1572  Ethernet Controller X710 for 10GbE SFP+
"""


def tool_paths() -> dict[str, Any]:
    return paths_data(load_pins(None), ToolLayout(default_cache_dir()))


class LocalCluster:
    """Implements cluster.backend.Backend."""

    def __init__(self, settings: LocalSettings, timeouts: Timeouts = TIMEOUTS) -> None:
        self.s = settings
        self.t = timeouts
        self.L = Layout(settings)
        self.procs = Supervisor(self.L.run, self.L.logs, timeouts.process_exit)
        self.pool_state = State(self.L.pools)
        self._tools: dict[str, Any] | None = None
        self.name = "local"
        self.kubeconfig = self.L.admin_kubeconfig
        self.node_name = settings.node_name
        self.resource = settings.resource
        self.nad = f"default/{settings.nad_name}"
        self.vf_count = settings.vf_count
        self.vf_subnet = settings.vf_subnet
        self.vf_config_nad: str | None = None  # needs an sriov-cni NAD on a netdevsim PF (not provided yet)

    def capabilities(self) -> dict[Cap, str | None]:
        backend = vfbackends.get(self.s.vf_backend)
        return {
            Cap.VF_CONFIG: None if self.s.vf_backend == "netdevsim" else
            f"{backend.name} PFs report no VF config (IFLA_VFINFO_LIST); needs the netdevsim VF backend",
            Cap.PF_LINK: None if self.s.vf_backend == "veth" else f"{backend.name} VFs cannot lose carrier",
            Cap.REBOOT: None,
            Cap.CNI_FAULTS: None,
            Cap.NODE_RESTARTS: None,
            Cap.KILL_CONTAINER: None,
        }

    def pool(self) -> Pool:
        rec = self.pool_record()
        return inventory.build_pool(rec.spec, inventory.read_node(mount_ns_pid=self.node_ns_pid()))

    def pod_resources(self) -> list[Assignment]:
        return podresources.list_assignments(self.pod_resources_socket)

    def ipam_reserved(self, network: str) -> set[str]:
        d = Path(self.node_path(f"{manifests.IPAM_DATA_DIR}/{network}"))
        return {p.name for p in d.iterdir() if p.name[0].isdigit()} if d.is_dir() else set()

    def diagnostics(self) -> dict[str, str]:
        """Component logs (tails), `ip -d link` + `ip addr` of every netns on the node, the fake PCI tree, and the
        CNI caches (Multus' delegates, sriov-cni's allocations) as the node sees them."""
        out = {f"log/{n}": self.log_tail(n, 200) for n in self.procs.names()}
        multus_log = self.L.logs / "multus.log"
        if multus_log.exists():
            out["log/multus-cni"] = "\n".join(multus_log.read_text(errors="replace").splitlines()[-200:])
        pid = self.procs.get(NODE_NS)
        for ref in netns.discover(mount_ns_pid=pid.pid if pid else None):
            label = "host" if ref.inode == os.stat("/proc/self/ns/net").st_ino else ref.label
            cmd = ["nsenter", f"--net={ref.path}", "sh", "-c", "ip -d link show; echo; ip addr show"]
            p = subprocess.run(cmd, capture_output=True, text=True)
            out[f"netns/{label.replace('/', '_')}"] = p.stdout + p.stderr
        tree = self.pool_state.pci_root
        if tree.is_dir():
            out["fake-pci-sysfs"] = "\n".join(
                f"{p.relative_to(tree)}" + (f" -> {os.readlink(p)}" if p.is_symlink() else "")
                for p in sorted(tree.rglob("*")))
        for cache in ("/var/lib/cni/multus", "/var/lib/cni/sriov", manifests.IPAM_DATA_DIR):
            d = Path(self.node_path(cache)) if pid else None
            if d is not None and d.is_dir():
                out[f"cni-cache{cache.replace('/', '_')}"] = "\n\n".join(
                    f"== {f.relative_to(d)}\n{f.read_text(errors='replace')[:4000]}"
                    for f in sorted(d.rglob("*")) if f.is_file())
        return out

    # ---- small helpers -----------------------------------------------------------------------------------------

    @property
    def tools(self) -> dict[str, Any]:
        if self._tools is None:
            self._tools = tool_paths()
        return self._tools

    def bin(self, name: str) -> str:
        return str(self.tools["binaries"][name])

    def node_ns_pid(self) -> int:
        proc = self.procs.get(NODE_NS)
        if proc is None:
            raise HarnessError(f"cluster {self.s.name}: node mount namespace is not running")
        return proc.pid

    def in_node(self, argv: list[str]) -> list[str]:
        return ["nsenter", f"--mount=/proc/{self.node_ns_pid()}/ns/mnt", "--", *argv]

    def node_path(self, path: str) -> str:
        """A path inside the node's mount namespace, as this process can open it."""
        return f"/proc/{self.node_ns_pid()}/root{path}"

    @property
    def pod_resources_socket(self) -> str:
        return self.node_path("/var/lib/kubelet/pod-resources/kubelet.sock")

    def kube(self) -> Kube:
        return Kube(self.L.admin_kubeconfig, Path(self.bin("kubectl")), cache_dir=self.L.kubectl_cache)

    def _run(self, argv: list[str], what: str, timeout: float = 120) -> str:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            raise HarnessError(f"{what}: {(p.stderr or p.stdout).strip()[-2000:]}")
        return p.stdout

    def _wait(self, check: Callable[[], Any], timeout: float, what: str, proc: str | None = None) -> Any:
        """wait_until, but fail at once (naming the log) when the process it waits for has died."""
        def guarded() -> Any:
            if proc is not None and self.procs.get(proc) is None:
                raise HarnessError(f"{what}: process {proc} exited; last log lines:\n{self.log_tail(proc)}")
            return check()
        return wait_until(guarded, timeout=timeout, what=what)

    def log_tail(self, name: str, lines: int = 15) -> str:
        try:
            return "\n".join(self.procs.log_path(name).read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    # ---- preflight ---------------------------------------------------------------------------------------------

    def running(self) -> list[str]:
        return [n for n in self.procs.names() if self.procs.get(n) is not None]

    def preflight(self) -> None:
        """Refuse, changing nothing, when `up` cannot work here."""
        if os.uname().sysname != "Linux":
            raise BadInput("the local backend runs on Linux only")
        if os.geteuid() != 0:
            raise HarnessError("the local backend needs root (namespaces, mounts, cgroups): run as root")
        missing = [n for n in NEEDED_BINARIES if not Path(str(self.tools["binaries"].get(n, ""))).is_file()]
        if missing:
            raise HarnessError(f"pinned binaries missing: {', '.join(missing)} (run `make tools`)")
        backend = vfbackends.get(self.s.vf_backend)
        if not 1 <= self.s.vf_count <= backend.max_vfs:
            raise BadInput(f"pool of {self.s.vf_count} VFs: the {backend.name} VF backend allows 1..{backend.max_vfs}")
        reason = backend.unavailable_reason("")
        if reason:
            raise Unsupported(f"VF backend {backend.name}: {reason}")
        host_missing = [b for b in HOST_BINARIES if shutil.which(b) is None]
        if host_missing:
            raise HarnessError(f"host programs missing: {', '.join(host_missing)} (apt-get install containerd "
                               "runc util-linux; `make deps-e2e`)")
        for img in ("pause", "testpod"):
            if not self.tools["images"][img]["exists"]:
                raise HarnessError(f"image {img} missing: {self.tools['images'][img]['path']} (run `make tools`)")
        for what, port in self.s.ports.items():
            with socket.socket() as sk:
                sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sk.bind(("0.0.0.0" if what.startswith("kubelet") else "127.0.0.1", port))  # noqa: S104 (a probe)
                except OSError:
                    raise BadInput(f"port {port} ({what.removesuffix('_port')}) is in use; choose another with "
                                   f"--{what.replace('_', '-')}") from None
        if Path("/sys/class/net", self.s.bridge).exists():
            raise BadInput(f"interface {self.s.bridge} already exists on this host (another cluster named "
                           f"{self.s.name}?)")

    # ---- up ------------------------------------------------------------------------------------------------------

    def up(self, progress: Callable[[str], None] = print) -> None:
        if self.L.marker.exists():
            alive = self.running()
            if alive:
                raise BadInput(f"cluster {self.s.name} is already up ({', '.join(alive)} running); "
                               f"`sriov-e2e cluster down --name {self.s.name}` first")
            progress(f"cluster {self.s.name}: removing what a crashed run left in {self.L.dir}")
            self.down(progress)
        elif self.L.dir.exists():
            raise BadInput(f"state dir {self.L.dir} exists but is not a sriov-e2e cluster; remove it or choose "
                           "another --name")
        self.preflight()
        started = time.monotonic()

        def step(what: str, fn: Callable[[], None]) -> None:
            t0 = time.monotonic()
            fn()
            progress(f"  {what}: {time.monotonic() - t0:.1f}s")

        try:
            self.L.dir.mkdir(parents=True)
            self.L.marker.write_text(json.dumps({"name": self.s.name, "settings": {
                k: str(v) for k, v in vars(self.s).items()}, "created": time.time()}, indent=2))
            hostfx.save(self.L.hostfx, {"iptables_chains": hostfx.iptables_chains()})
            hostfx.hold_sysctls(self.s.root, self.s.name)
            progress(f"cluster {self.s.name}: starting in {self.L.dir}")
            step("certificates", self._pki)
            step("etcd", self._etcd)
            step("kube-apiserver", self._apiserver)
            step("controller-manager, scheduler", self._controllers)
            step("node mount namespace", self._node_ns)
            step("containerd + images", self._containerd)
            step(f"fake VFs ({self.s.vf_count} x {self.s.vf_backend} on {self.s.pf})", self._vfs)
            step("CNI (Multus thin -> bridge; host-device for VFs)", self._cni)
            step("kubelet (node Ready)", self._kubelet)
            step("NetworkAttachmentDefinition CRD + NAD", self._nad)
            step(f"sriovdp (allocatable {self.s.resource}={self.s.vf_count})", self._sriovdp)
            step("Multus answers", self._multus_answers)
        except BaseException:
            progress(f"cluster {self.s.name}: up failed; removing what was started (logs kept in "
                     f"{self.L.logs} until now)")
            self._keep_logs()
            self.down(progress)
            raise
        progress(f"cluster {self.s.name}: up in {time.monotonic() - started:.1f}s; "
                 f"KUBECONFIG={self.L.admin_kubeconfig}")

    def _keep_logs(self) -> None:
        if self.L.logs.is_dir():
            dest = self.s.root / f"{self.s.name}-failed-logs"
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(self.L.logs, dest)

    def _pki(self) -> None:
        pki = Pki(self.L.pki)
        pki.create_ca(self.s.name)
        node = self.s.node_name
        pki.issue("apiserver", "kube-apiserver", server=True, client=False,
                  dns=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                       "kubernetes.default.svc.cluster.local"), ips=("127.0.0.1", "10.0.0.1"))
        pki.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters")
        pki.issue("kubelet-serving", node, server=True, client=False, dns=(node, "localhost"),
                  ips=("127.0.0.1", _node_ip()))
        self.L.kubeconfigs.mkdir(parents=True)
        server = f"https://127.0.0.1:{self.s.apiserver_port}"
        for name, cn, org in (("admin", "sriov-e2e-admin", "system:masters"),
                              ("controller-manager", "system:kube-controller-manager", None),
                              ("scheduler", "system:kube-scheduler", None),
                              ("kubelet", f"system:node:{node}", "system:nodes"),
                              ("multus", "sriov-e2e-multus", "system:masters")):
            pair = pki.issue(name, cn, org)
            write_kubeconfig(self.L.kubeconfigs / f"{name}.kubeconfig", cluster=self.s.name, server=server,
                             ca=pki.ca.cert, pair=pair, user=cn)
        shutil.copy(self.L.kubeconfigs / "admin.kubeconfig", self.L.admin_kubeconfig)

    def _etcd(self) -> None:
        s = self.s
        self.procs.start("etcd", [
            self.bin("etcd"), "--name", s.name, "--data-dir", str(self.L.etcd),
            "--listen-client-urls", f"http://127.0.0.1:{s.etcd_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{s.etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{s.etcd_peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{s.etcd_peer_port}",
            "--initial-cluster", f"{s.name}=http://127.0.0.1:{s.etcd_peer_port}",
            "--listen-metrics-urls=", "--unsafe-no-fsync", "--log-level", "warn"])

        def healthy() -> None:
            body = _http_get(f"http://127.0.0.1:{s.etcd_port}/health")
            if '"health":"true"' not in body.replace(" ", ""):
                raise NotYet(f"/health says {body.strip()[:200]}")
        self._wait(healthy, self.t.component_ready, "etcd", "etcd")

    def _apiserver(self) -> None:
        s, pki = self.s, self.L.pki
        self.procs.start("kube-apiserver", [
            self.bin("kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{s.etcd_port}",
            "--bind-address=127.0.0.1", f"--advertise-address={_node_ip()}", f"--secure-port={s.apiserver_port}",
            f"--tls-cert-file={pki}/apiserver.crt", f"--tls-private-key-file={pki}/apiserver.key",
            f"--client-ca-file={pki}/ca.crt", f"--service-account-key-file={pki}/sa.pub",
            f"--service-account-signing-key-file={pki}/sa.key",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={s.service_subnet}", "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction", "--allow-privileged=true",
            f"--kubelet-client-certificate={pki}/apiserver-kubelet-client.crt",
            f"--kubelet-client-key={pki}/apiserver-kubelet-client.key",
            f"--kubelet-certificate-authority={pki}/ca.crt", "--kubelet-preferred-address-types=InternalIP",
            f"--cert-dir={pki}/apiserver-generated", "--profiling=false", "--v=1"])
        ctx = self._tls()

        def ready() -> None:
            body = _http_get(f"https://127.0.0.1:{s.apiserver_port}/readyz", ctx)
            if body.strip() != "ok":
                raise NotYet(f"/readyz says {body.strip()[:200]}")
        self._wait(ready, self.t.component_ready, "kube-apiserver", "kube-apiserver")

    def _tls(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.L.pki / "ca.crt"))
        ctx.load_cert_chain(str(self.L.pki / "admin.crt"), str(self.L.pki / "admin.key"))
        return ctx

    def _controllers(self) -> None:
        s, kc, pki = self.s, self.L.kubeconfigs, self.L.pki
        self.procs.start("kube-controller-manager", [
            self.bin("kube-controller-manager"), f"--kubeconfig={kc}/controller-manager.kubeconfig",
            f"--authentication-kubeconfig={kc}/controller-manager.kubeconfig",
            f"--authorization-kubeconfig={kc}/controller-manager.kubeconfig",
            "--bind-address=127.0.0.1", f"--secure-port={s.controller_manager_port}",
            f"--service-account-private-key-file={pki}/sa.key", f"--root-ca-file={pki}/ca.crt",
            "--use-service-account-credentials=true", "--leader-elect=false", "--allocate-node-cidrs=false",
            f"--flex-volume-plugin-dir={self.L.volume_plugins}", f"--cert-dir={pki}/controller-manager-generated",
            "--profiling=false", "--v=1"])
        self.procs.start("kube-scheduler", [
            self.bin("kube-scheduler"), f"--kubeconfig={kc}/scheduler.kubeconfig",
            f"--authentication-kubeconfig={kc}/scheduler.kubeconfig",
            f"--authorization-kubeconfig={kc}/scheduler.kubeconfig",
            "--bind-address=127.0.0.1", f"--secure-port={s.scheduler_port}", "--leader-elect=false",
            f"--cert-dir={pki}/scheduler-generated",
            "--profiling=false", "--v=1"])

    def _node_ns(self) -> None:
        """The node's mount namespace: private, with /var/lib, /var/log and /run overlaid into the state dir."""
        self.procs.start(NODE_NS, ["unshare", "--mount", "--propagation", "private", "--", "sleep", "infinity"])
        pid = self.node_ns_pid()

        def entered() -> None:
            if os.stat(f"/proc/{pid}/ns/mnt").st_ino == os.stat("/proc/self/ns/mnt").st_ino:
                raise NotYet("still in the host mount namespace")
        self._wait(entered, self.t.component_ready, "node mount namespace", NODE_NS)
        script = ["set -eu"]
        for d in OVERLAID:
            upper, work = self.L.overlays / d / "upper", self.L.overlays / d / "work"
            upper.mkdir(parents=True, exist_ok=True)
            work.mkdir(parents=True, exist_ok=True)
            script.append(f"mount -t overlay sriov-e2e-{self.s.name} -o lowerdir=/{d},upperdir={upper},"
                          f"workdir={work} /{d}")
        self.L.netns_dir.mkdir(parents=True, exist_ok=True)
        # sandbox netns live in the node's own dir; the host's /run/netns stays as it was
        script += ["mkdir -p /run/netns", f"mount --bind {self.L.netns_dir} /run/netns",
                   "mount --make-private /run/netns"]
        self._run(self.in_node(["sh", "-c", "\n".join(script)]), "node mount namespace setup")

    def _containerd(self) -> None:
        c = self.L.containerd
        for d in ("root", "state"):
            (c / d).mkdir(parents=True, exist_ok=True)
        self.L.cni_bin.mkdir(parents=True)
        self.L.cni_conf.mkdir(parents=True)
        self.L.containerd_config.write_text(manifests.containerd_config(
            root=c / "root", state=c / "state", sock=self.L.containerd_sock,
            sandbox_image=self.tools["images"]["pause"]["ref"], cni_bin=self.L.cni_bin, cni_conf=self.L.cni_conf))
        self.procs.start("containerd", self.in_node(["containerd", "--config", str(self.L.containerd_config)]))
        self._wait_containerd()
        for img in ("pause", "testpod"):
            self._run(["ctr", "--address", str(self.L.containerd_sock), "-n", "k8s.io", "images", "import",
                       self.tools["images"][img]["path"]], f"import image {img}")

    def _wait_containerd(self) -> None:
        def answers() -> None:
            p = subprocess.run(["ctr", "--address", str(self.L.containerd_sock), "version"], capture_output=True,
                               text=True)
            if p.returncode != 0:
                raise NotYet(p.stderr.strip()[-200:])
        self._wait(answers, self.t.component_ready, "containerd", "containerd")

    def _vfs(self) -> None:
        pools.create(self.pool_state, self.s.pf, self.s.vf_count, self.s.vf_backend, self.s.resource)

    def pool_record(self) -> PoolRecord:
        rec = self.pool_state.load(self.s.pf)
        if rec is None:
            raise HarnessError(f"cluster {self.s.name}: no VF pool {self.s.pf}")
        return rec

    @property
    def fail_del_flag(self) -> Path:
        return self.L.faults / "fail-cni-del"

    def _cni(self) -> None:
        b = self.L.cni_bin
        for name in ("bridge", "host-local", "loopback", "multus"):
            os.symlink(self.bin(name), b / name)
        self.L.faults.mkdir(parents=True)
        fakesys.write_wrapper(b / "host-device", Path(self.bin("host-device")), self.pool_state.pci_root,
                              fail_del_flag=self.fail_del_flag)
        (self.L.cni_conf / "00-multus.conf").write_text(json.dumps(manifests.multus_conf(
            kubeconfig=self.L.kubeconfigs / "multus.kubeconfig", bin_dir=b, log=self.L.logs / "multus.log",
            delegate=manifests.bridge_conf(self.s.bridge, self.s.pod_subnet)), indent=2))

    def _kubelet(self) -> None:
        self.L.kubelet_config.parent.mkdir(parents=True)
        self.L.pod_logs.mkdir(parents=True)
        self.L.kubelet_config.write_text(yaml.safe_dump(manifests.kubelet_config(
            self.s, pki=self.L.pki, sock=self.L.containerd_sock, pod_logs=self.L.pod_logs,
            volume_plugins=self.L.volume_plugins)))
        hostfx.create_cgroup_tree(self.s.cgroup)
        self.procs.start("kubelet", self._kubelet_argv())
        self.wait_node_ready()

    def _kubelet_argv(self) -> list[str]:
        return self.in_node([
            self.bin("kubelet"), f"--config={self.L.kubelet_config}",
            f"--kubeconfig={self.L.kubeconfigs}/kubelet.kubeconfig", f"--hostname-override={self.s.node_name}",
            f"--node-ip={_node_ip()}", "--v=2"])

    def wait_node_ready(self) -> None:
        """kubelet answers its healthz (so a restarted kubelet is really back), then the node is Ready."""
        def healthy() -> None:
            body = _http_get(f"http://127.0.0.1:{self.s.kubelet_healthz_port}/healthz")
            if body.strip() != "ok":
                raise NotYet(f"/healthz says {body.strip()[:200]}")
        self._wait(healthy, self.t.node_ready, f"kubelet of {self.s.node_name}", "kubelet")
        kube = self.kube()
        try:
            def ready() -> None:
                ok, why = kube.node_ready(self.s.node_name)
                if not ok:
                    raise NotYet(why)
            self._wait(ready, self.t.node_ready, f"node {self.s.node_name}", "kubelet")
        finally:
            kube.close()

    def _nad(self) -> None:
        kube = self.kube()
        try:
            kube.kubectl_apply(manifests.nad_crd())

            def established() -> None:
                out = kube.kubectl("get", "crd", "network-attachment-definitions.k8s.cni.cncf.io", "-o",
                                   "jsonpath={.status.conditions[?(@.type=='Established')].status}")
                if out.strip() != "True":
                    raise NotYet(f"Established={out.strip() or 'unknown'}")
            wait_until(established, timeout=self.t.component_ready, what="NAD CRD")
            kube.kubectl_apply(manifests.nad(self.s.nad_name, "default", self.s.resource, self.s.vf_subnet))
        finally:
            kube.close()

    def _sriovdp(self) -> None:
        self.L.sriovdp_config.parent.mkdir(parents=True, exist_ok=True)
        prefix, name = self.s.resource.split("/", 1)
        dp_config = manifests.sriovdp_config(name, prefix, self.pool_record())
        self.L.sriovdp_config.write_text(json.dumps(dp_config, indent=2))
        cache = self.L.pci_ids_home / ".cache"
        cache.mkdir(parents=True, exist_ok=True)
        system_ids = next((p for p in (Path("/usr/share/misc/pci.ids"), Path("/usr/share/hwdata/pci.ids"))
                           if p.is_file()), None)
        (cache / "pci.ids").write_text(system_ids.read_text(errors="replace") if system_ids else MINIMAL_PCI_IDS)
        self.start_sriovdp()
        self.wait_pool_advertised(self.s.vf_count)

    def start_sriovdp(self) -> None:
        prefix = self.s.resource.split("/", 1)[0]
        argv = fakesys.exec_argv(self.pool_state.pci_root, [
            self.bin("sriovdp"), f"--config-file={self.L.sriovdp_config}", f"--resource-prefix={prefix}",
            "--logtostderr", "-v=4"])
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "HOME": str(self.L.pci_ids_home),
               "PCIDB_DISABLE_NETWORK_FETCH": "1"}
        self.procs.start("sriovdp", self.in_node(argv), env=env)

    def wait_pool_advertised(self, want: int) -> None:
        kube = self.kube()
        try:
            def advertised() -> None:
                got = kube.resource_counts(self.s.node_name, self.s.resource)
                if got.allocatable != want:
                    raise NotYet(f"allocatable {self.s.resource}={got.allocatable} (capacity {got.capacity}), "
                                 f"want {want}")
            self._wait(advertised, self.t.pool_advertised, f"node {self.s.node_name}", "sriovdp")
        finally:
            kube.close()

    def _multus_answers(self) -> None:
        res = cni.invoke("VERSION", {"type": "multus", "cniVersion": "0.4.0"}, cni_path=self.L.cni_bin,
                         container_id="", netns="", ifname="")
        if not res.ok or not res.result or "supportedVersions" not in res.result:
            raise HarnessError(f"Multus does not answer CNI VERSION: {res.stderr or res.result}")

    # ---- node operations (the flows use these) -------------------------------------------------------------------

    @allure.step("restart kubelet")
    def restart_kubelet(self) -> None:
        self.procs.stop("kubelet")
        self.procs.start("kubelet", self._kubelet_argv())
        self.wait_node_ready()

    @allure.step("restart the device plugin (sriovdp)")
    def restart_sriovdp(self) -> None:
        self.procs.stop("sriovdp")
        self.start_sriovdp()

    @allure.step("restart containerd")
    def restart_containerd(self) -> None:
        self.procs.stop("containerd")
        self.procs.start("containerd", self.in_node(["containerd", "--config", str(self.L.containerd_config)]))
        self._wait_containerd()

    @allure.step("reboot the node")
    def reboot_node(self, progress: Callable[[str], None] = lambda _: None) -> None:
        """Power-cycle the node: everything on it dies at once (no CNI DEL), the VFs are created anew (a reboot
        re-creates them from sriov_numvfs), runtime state is lost, disk state (/var/lib) survives, the node boots.
        """
        for name in ("sriovdp", "kubelet", "containerd"):
            proc = self.procs.get(name)
            if proc is not None:
                os.kill(proc.pid, signal.SIGKILL)
        self._kill_shims()
        for pid in hostfx.cgroup_pids(self.s.cgroup):  # the pods' own processes
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for name in ("sriovdp", "kubelet", "containerd", NODE_NS):
            self.procs.stop(name)  # reaps the killed ones; the holder's exit drops every node mount
        progress("node powered off")
        self._destroy_pools()
        for volatile in (self.L.containerd / "state", self.L.overlays / "run", self.L.netns_dir):
            shutil.rmtree(volatile, ignore_errors=True)  # tmpfs on a real node: empty after a reboot
        (self.L.containerd / "state").mkdir(parents=True)
        hostfx.remove_cgroup_tree(self.s.cgroup)
        self._node_ns()
        self._vfs()
        self.procs.start("containerd", self.in_node(["containerd", "--config", str(self.L.containerd_config)]))
        self._wait_containerd()
        hostfx.create_cgroup_tree(self.s.cgroup)
        self.procs.start("kubelet", self._kubelet_argv())
        self.wait_node_ready()
        self.start_sriovdp()
        self.wait_pool_advertised(self.s.vf_count)
        progress("node booted")

    def _sandbox_id(self, namespace: str, pod: str) -> str:
        out = self._crictl("pods", "--namespace", namespace, "--name", pod, "--state", "ready", "-q").stdout.split()
        if not out:
            raise HarnessError(f"pod {namespace}/{pod}: no ready sandbox on node {self.s.node_name}")
        return out[0]

    @allure.step("kill the pod sandbox {namespace}/{pod}")
    def kill_sandbox(self, namespace: str, pod: str) -> None:
        """SIGKILL the pod's sandbox (pause) process, as a crash of the sandbox would."""
        info = json.loads(self._crictl("inspectp", self._sandbox_id(namespace, pod)).stdout)
        os.kill(int(info["info"]["pid"]), signal.SIGKILL)

    @allure.step("send {sig} to container {container} of {namespace}/{pod}")
    def kill_container(self, namespace: str, pod: str, container: str, sig: signal.Signals) -> None:
        """Signal a container's main process from outside, as the OOM killer or a segfault would end it."""
        ids = self._crictl("ps", "--pod", self._sandbox_id(namespace, pod), "--name", f"^{container}$", "--state",
                           "running", "-q").stdout.split()
        if not ids:
            raise HarnessError(f"pod {namespace}/{pod}: no running container {container}")
        info = json.loads(self._crictl("inspect", ids[0]).stdout)
        os.kill(int(info["info"]["pid"]), sig)

    @allure.step("make CNI DEL fail: {fail}")
    def fail_cni_del(self, fail: bool) -> None:
        """While on, every CNI DEL of the VF network fails (the VF stays where the pod left it)."""
        if fail:
            self.fail_del_flag.write_text("armed by sriov-e2e\n")
        else:
            self.fail_del_flag.unlink(missing_ok=True)

    @allure.step("PF link up: {up}")
    def set_pf_link(self, up: bool) -> None:
        pools.set_pf_link(self.pool_state, self.s.pf, up)

    # ---- down ----------------------------------------------------------------------------------------------------

    def down(self, progress: Callable[[str], None] = print) -> None:
        """Remove every process, mount, netns, link, iptables chain, cgroup and file the cluster made."""
        if not self.L.dir.exists():
            progress(f"cluster {self.s.name}: not up (no {self.L.dir})")
            return
        if not self.L.marker.exists():
            raise BadInput(f"{self.L.dir} is not a sriov-e2e cluster state dir; refusing to remove it")
        undo = UndoStack()  # collects every step; all run, the first error is raised at the end
        steps: list[tuple[str, Callable[[], None]]] = [
            ("stop sriovdp", lambda: self.procs.stop("sriovdp")),
            ("stop kubelet", lambda: self.procs.stop("kubelet")),
            ("remove pod sandboxes (CNI DEL)", self._remove_sandboxes),
            ("stop containerd", lambda: self.procs.stop("containerd")),
            ("stop containerd shims", self._kill_shims),
            ("drop the node mount namespace", lambda: self.procs.stop(NODE_NS)),
            ("destroy fake VFs", self._destroy_pools),
            *[(f"stop {n}", functools.partial(self.procs.stop, n)) for n in CONTROL_PLANE],
            ("delete pod bridge", self._delete_bridge),
            ("restore host state", self._restore_host),
        ]
        for what, fn in reversed(steps):
            undo.push(what, fn)
        undo.undo()
        shutil.rmtree(self.L.dir)
        with contextlib.suppress(OSError):
            self.s.root.rmdir()  # only when no other cluster or record is left in it
        progress(f"cluster {self.s.name}: down; {self.L.dir} removed")

    def _crictl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.bin("crictl"), "--runtime-endpoint", f"unix://{self.L.containerd_sock}",
                               "--timeout", "30s", *args], capture_output=True, text=True, timeout=120)

    def _remove_sandboxes(self) -> None:
        if self.procs.get("containerd") is None:
            return
        for sb in self._crictl("pods", "-q").stdout.split():
            self._crictl("stopp", sb)
            self._crictl("rmp", "-f", sb)

    def _kill_shims(self) -> None:
        """containerd shims outlive containerd by design; ours name our containerd socket on their command line."""
        marker = str(self.L.containerd_sock).encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if b"containerd-shim" in cmd and marker in cmd:
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def _destroy_pools(self) -> None:
        for rec in self.pool_state.all():
            pools.destroy(self.pool_state, rec.spec.pf_name)

    def _delete_bridge(self) -> None:
        if Path("/sys/class/net", self.s.bridge).exists():
            subprocess.run(["ip", "link", "delete", self.s.bridge], check=True)

    def _restore_host(self) -> None:
        fx = hostfx.load(self.L.hostfx)
        hostfx.remove_cgroup_tree(self.s.cgroup)
        if "iptables_chains" in fx:
            hostfx.remove_new_chains(fx["iptables_chains"])
        hostfx.release_sysctls(self.s.root, self.s.name)

    # ---- status ----------------------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        if not self.L.marker.exists():
            return {"name": self.s.name, "up": False, "state_dir": str(self.L.dir)}
        procs = {n: (self.procs.get(n) is not None) for n in self.procs.names()}
        recorded = json.loads(self.L.marker.read_text()).get("settings", {})  # what it was started with
        out: dict[str, Any] = {"name": self.s.name, "up": all(procs.values()) and bool(procs),
                               "state_dir": str(self.L.dir), "kubeconfig": str(self.L.admin_kubeconfig),
                               "processes": procs, "node": self.s.node_name,
                               "resource": recorded.get("resource"), "vf_count": recorded.get("vf_count"),
                               "vf_backend": recorded.get("vf_backend")}
        if procs.get("kube-apiserver"):
            kube = self.kube()
            try:
                out["node_ready"] = kube.node_ready(self.s.node_name)[1]
                c = kube.resource_counts(self.s.node_name, str(recorded.get("resource", self.s.resource)))
                out["capacity"], out["allocatable"] = c.capacity, c.allocatable
            except Exception as e:  # status reports what it can; it never fails on a half-up cluster
                out["error"] = str(e)
            finally:
                kube.close()
        return out


def _http_get(url: str, ctx: ssl.SSLContext | None = None) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5, context=ctx) as r:  # noqa: S310 (loopback URLs we build)
            return str(r.read().decode())
    except OSError as e:
        raise NotYet(f"{url}: {e}") from None


def _node_ip() -> str:
    """The host's address on its default route: kubelet refuses a loopback node IP."""
    route = subprocess.run(["ip", "-j", "route", "get", "192.0.2.1"], capture_output=True, text=True)
    try:
        return str(json.loads(route.stdout)[0]["prefsrc"])
    except (ValueError, IndexError, KeyError):
        raise HarnessError(f"cannot find this host's node IP (ip route get: {route.stderr.strip()})") from None
