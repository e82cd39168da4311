"""pytest fixtures of the lifecycle suites (e2e/): the backend, the API, namespaces and VF pods with cleanup.

Setup and teardown live here, outside the tests: a flow reads as the lifecycle it checks.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import allure
import pytest

from sriov_e2e import checks, timing
from sriov_e2e.cluster.backend import Backend
from sriov_e2e.cluster.layout import LocalSettings
from sriov_e2e.cluster.local import LocalCluster
from sriov_e2e.k8s import NETWORKS, Kube
from sriov_e2e.model import VFClass
from sriov_e2e.state import PREFIX
from sriov_e2e.timeouts import TIMEOUTS
from sriov_e2e.timing import RECORDER
from sriov_e2e.toolchain.pins import load_pins
from sriov_e2e.wait import NotYet, wait_until

TESTPOD_IMAGE = "localhost/sriov-e2e/testpod:0.1.0"
# PID 1 ignores SIGTERM unless it traps it: without the trap every delete waits the whole grace period
SLEEP_FOREVER = ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
LABEL = {"created-by": "sriov-e2e"}


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("sriov-e2e suites")
    g.addoption("--sriov-backend", default=os.environ.get("SRIOV_E2E_BACKEND", "local"),
                choices=["local"], help="where the cluster comes from (env SRIOV_E2E_BACKEND)")
    g.addoption("--sriov-cluster-name", default=os.environ.get("SRIOV_E2E_CLUSTER_NAME", "sriov-e2e"))
    g.addoption("--sriov-vf-count", type=int, default=int(os.environ.get("SRIOV_E2E_VF_COUNT", "4")),
                help="pool size (env SRIOV_E2E_VF_COUNT)")
    g.addoption("--sriov-expect-vfs", type=int, default=None,
                help="pool size the flows expect to find advertised (default: --sriov-vf-count); a wrong value "
                     "makes the flows fail midway (setup still passes), which is how the failure report is checked")
    g.addoption("--sriov-resource", default=os.environ.get("SRIOV_E2E_RESOURCE", "openshift.io/mellanoxnics"),
                help="extended resource name of the VF pool (env SRIOV_E2E_RESOURCE)")
    g.addoption("--sriov-keep-cluster", action="store_true",
                default=os.environ.get("SRIOV_E2E_KEEP_CLUSTER") == "1",
                help="leave a cluster this run started up at the end (env SRIOV_E2E_KEEP_CLUSTER=1)")
    g.addoption("--sriov-keep-on-failure", action="store_true",
                default=os.environ.get("SRIOV_E2E_KEEP_ON_FAILURE") == "1",
                help="leave the cluster up when a flow failed, to debug it (env SRIOV_E2E_KEEP_ON_FAILURE=1)")
    g.addoption("--sriov-churn", type=int, default=int(os.environ.get("SRIOV_E2E_CHURN", "5")),
                help="pods created and deleted by the churn flow (env SRIOV_E2E_CHURN)")
    g.addoption("--sriov-artifacts", default=os.environ.get("SRIOV_E2E_ARTIFACTS", "artifacts"),
                help="where failure diagnostics go, one dir per run, the last 5 runs kept (env SRIOV_E2E_ARTIFACTS)")


REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
KEEP_RUNS = 5


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    rep: pytest.TestReport = yield
    item.stash.setdefault(REPORTS, {})[rep.when] = rep
    if rep.failed and rep.when in ("setup", "call"):
        _dump_for(item)  # now, before any fixture's teardown changes what is on the node
    flow = RECORDER.current
    if flow is not None and flow.flow == item.name:
        if rep.when == "call":
            flow.add(timing.FLOW_TOTAL, rep.duration)
        if rep.failed or rep.when == "call" or rep.skipped:
            flow.outcome = "skipped" if rep.skipped else ("failed" if rep.failed else "passed")
    return rep


@pytest.fixture(autouse=True)
def _flow_clock(request: pytest.FixtureRequest) -> None:
    RECORDER.start(request.node.name)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RECORDER.flows:
        return
    terminalreporter.section("flow timings")
    for line in RECORDER.table().splitlines():
        terminalreporter.write_line(line)
    if RECORDER.save_to is not None:
        RECORDER.save(RECORDER.save_to)
        terminalreporter.write_line(f"saved to {RECORDER.save_to}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Allure's environment panel: what ran, where."""
    results = getattr(session.config.option, "allure_report_dir", None)
    if not results:
        return
    env = environment(session.config)
    Path(results).mkdir(parents=True, exist_ok=True)
    (Path(results) / "environment.properties").write_text(
        "".join(f"{k}={v}\n" for k, v in env.items()), encoding="utf-8")


def environment(config: pytest.Config) -> dict[str, str]:
    env = {"backend": str(config.getoption("--sriov-backend")), "kernel": os.uname().release, "nodes": "1",
           **RUN_INFO}
    try:
        for comp in load_pins(None).components:
            env[f"version.{comp.name}"] = comp.version
    except Exception as e:  # the report still renders without the pins
        env["version.error"] = str(e)
    return env


def _dump_for(item: pytest.Item) -> None:
    args = getattr(item, "funcargs", {})
    be, kube, run_dir = args.get("backend"), args.get("kube"), ARTIFACTS.get("run")
    if be is None or kube is None or run_dir is None:
        return
    dest = run_dir / item.name
    before = args.get("settled_pool")
    dump_diagnostics(dest, be, kube, args.get("namespace"),
                     before.pool.as_dict() if isinstance(before, checks.PoolViews) else None)
    for f in sorted(dest.iterdir()):
        allure.attach.file(str(f), name=f.name, attachment_type=allure.attachment_type.TEXT)  # type: ignore[no-untyped-call]
    item.add_report_section("call", "diagnostics", f"written to {dest}")
    print(f"\ndiagnostics of {item.nodeid}: {dest}")


ARTIFACTS: dict[str, Path] = {}
RUN_INFO: dict[str, str] = {}  # what the backend fixture learned, for the report's environment panel


@pytest.fixture(scope="session")
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    """This run's artifacts dir; older runs beyond the last KEEP_RUNS are removed."""
    root = Path(request.config.getoption("--sriov-artifacts")).resolve()
    run = root / time.strftime("e2e-%Y%m%d-%H%M%S")
    run.mkdir(parents=True, exist_ok=True)
    RECORDER.save_to = run / "timings.json"
    ARTIFACTS["run"] = run
    for old in sorted(p for p in root.iterdir() if p.name.startswith("e2e-"))[:-KEEP_RUNS]:
        shutil.rmtree(old, ignore_errors=True)
    return run


def dump_diagnostics(dest: Path, backend: Backend, kube: Kube, namespace: str | None,
                     pool_before: dict[str, Any] | None) -> None:
    """Everything worth reading after a failure, written before cleanup changes it."""
    dest.mkdir(parents=True, exist_ok=True)

    def put(name: str, produce: Callable[[], str]) -> None:
        try:
            text = produce()
        except Exception as e:  # a dump never hides the test's own failure
            text = f"(could not collect: {e})"
        (dest / name).write_text(text, encoding="utf-8")

    put("pool-after.json", lambda: json.dumps(backend.pool().as_dict(), indent=2))
    if pool_before is not None:
        put("pool-before.json", lambda: json.dumps(pool_before, indent=2))
    put("views.txt", lambda: checks.views(backend, kube).summary())
    put("pod-resources.txt", lambda: "\n".join(map(str, backend.pod_resources())))
    ns_args = ["-n", namespace] if namespace else ["--all-namespaces"]
    put("pods-describe.txt", lambda: kube.kubectl("describe", "pods", *ns_args))
    put("events.txt", lambda: kube.kubectl("get", "events", *ns_args, "-o", "wide"))
    put("node-describe.txt", lambda: kube.kubectl("describe", "node", backend.node_name))
    put("network-status.json", lambda: kube.kubectl(
        "get", "pods", *ns_args, "-o",
        "jsonpath={range .items[*]}{.metadata.name}{'\\t'}{.metadata.annotations.k8s\\.v1\\.cni\\.cncf\\.io/"
        "network-status}{'\\n'}{end}"))
    for name, text in backend.diagnostics().items():
        put(name.replace("/", "_") + ".txt", functools.partial(str, text))


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest, artifacts_dir: Path) -> Iterator[Backend]:
    """The cluster under test; a local one is started for the session unless one is already up."""
    opt = request.config.getoption
    settings = LocalSettings(name=opt("--sriov-cluster-name"), vf_count=opt("--sriov-vf-count"),
                             resource=opt("--sriov-resource"))
    cluster = LocalCluster(settings)
    RUN_INFO.update({"vf.backend": settings.vf_backend, "vf.count": str(settings.vf_count),
                     "resource": settings.resource, "pf": settings.pf})
    expect = opt("--sriov-expect-vfs")
    if expect is not None:
        cluster.vf_count = expect  # what the checks hold the node to; the pool itself keeps its real size
    status = cluster.status()
    wanted = {"resource": settings.resource, "vf_count": str(settings.vf_count), "vf_backend": settings.vf_backend}
    differs = {k: status.get(k) for k, v in wanted.items() if status.get("up") and status.get(k) != v}
    if differs:
        pytest.exit(f"cluster {settings.name} is already up with {differs}, not {wanted}: use it as it is or "
                    f"`sriov-e2e cluster down --name {settings.name}` first", returncode=2)
    started = not status.get("up")
    if started:
        cluster.up()
    yield cluster
    keep = opt("--sriov-keep-cluster") or (opt("--sriov-keep-on-failure") and request.session.testsfailed)
    if started and not keep:
        cluster.down()
    elif started:
        print(f"\ncluster {settings.name} left up: KUBECONFIG={cluster.kubeconfig}; "
              f"`sriov-e2e cluster down --name {settings.name}` removes it")


@pytest.fixture(scope="session")
def kube(backend: Backend) -> Iterator[Kube]:
    k = backend.kube()
    yield k
    k.close()


@pytest.fixture(autouse=True)
def _requires(request: pytest.FixtureRequest) -> None:
    """`@pytest.mark.requires(Cap.X, ...)`: skip with the backend's reason when it lacks a capability."""
    marker = request.node.get_closest_marker("requires")
    if marker is None:
        return
    be: Backend = request.getfixturevalue("backend")
    caps = be.capabilities()
    missing = [f"{c.value}: {caps.get(c) or 'unknown'}" for c in marker.args if caps.get(c, "unknown")]
    if missing:
        pytest.skip(f"backend {be.name} cannot do this: {'; '.join(missing)}")


@pytest.fixture
def settled_pool(backend: Backend, kube: Kube) -> Iterator[checks.PoolViews]:
    """The pool is settled and idle before the flow; after it, every VF is back as it was and every IP the flow's
    pods took is released."""
    network = backend.nad.split("/", 1)[1]
    # the pool as the node has it: --sriov-expect-vfs is checked by the flows themselves
    total = backend.pool().total
    before = checks.wait_settled(backend, kube, in_use=0, total=total)
    reserved = backend.ipam_reserved(network)
    yield before
    after = checks.wait_settled(backend, kube, in_use=0, total=total)
    RECORDER.since("cleanup", timing.POOL_RESTORED)
    diff = checks.snapshot_diff(before.pool, after.pool)
    assert not diff, "VF inventory differs from before the flow: " + "; ".join(diff)
    left = backend.ipam_reserved(network) - reserved
    assert not left, f"IPs of network {network} still reserved after the flow: {sorted(left)}"


@pytest.fixture
def namespace(kube: Kube, settled_pool: checks.PoolViews) -> Iterator[str]:
    """A namespace per test. It depends on settled_pool so that it is deleted (its pods and their VFs with it)
    before settled_pool checks that every VF came back."""
    name = f"{PREFIX}-{uuid.uuid4().hex[:8]}"
    kube.kubectl_apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": LABEL}})
    yield name
    RECORDER.mark("cleanup")
    kube.kubectl("delete", "namespace", name, "--wait=true", "--timeout", f"{int(TIMEOUTS.pod_deleted)}s",
                 "--ignore-not-found")


def vf_pod(name: str, *, networks: list[str], vfs_per_container: list[int], resource: str,
           restart_policy: str = "Always", command: list[str] | None = None) -> dict[str, Any]:
    """A pod whose containers request VFs and whose annotation attaches `networks` (Multus)."""
    containers = []
    for i, n in enumerate(vfs_per_container):
        res = {resource: str(n)} if n else {}
        containers.append({"name": f"c{i}", "image": TESTPOD_IMAGE, "imagePullPolicy": "Never",
                           "command": command or SLEEP_FOREVER,
                           "resources": {"requests": res, "limits": res}})
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": LABEL, "annotations": {NETWORKS: ",".join(networks)}},
            "spec": {"containers": containers, "restartPolicy": restart_policy, "terminationGracePeriodSeconds": 5}}


@dataclass
class Pods:
    """Creates VF pods in a test's namespace and waits on them; the namespace's deletion removes leftovers."""

    kube: Kube
    backend: Backend
    namespace: str

    def create(self, name: str, *, vfs: int = 1, containers: list[int] | None = None,
               restart_policy: str = "Always", networks: list[str] | None = None) -> None:
        with allure.step(f"create pod {name} requesting {sum(containers or [vfs])} VF(s)"):
            self._create(name, vfs, containers, restart_policy, networks)
            RECORDER.mark(f"created {name}")

    def _create(self, name: str, vfs: int, containers: list[int] | None, restart_policy: str,
                networks: list[str] | None) -> None:
        per_container = containers or [vfs]
        nets = networks if networks is not None else [self.backend.nad] * sum(per_container)
        manifest = vf_pod(name, networks=nets, vfs_per_container=per_container, resource=self.backend.resource,
                          restart_policy=restart_policy)
        manifest["metadata"]["namespace"] = self.namespace
        self.kube.kubectl_apply(manifest)

    def wait_running(self, name: str, timeout: float | None = None) -> Any:
        def running() -> Any:
            pod = self.kube.pod(self.namespace, name)
            phase = pod.status.phase if pod is not None and pod.status else None
            if phase in ("Failed", "Succeeded"):
                raise AssertionError(f"pod {self.namespace}/{name} ended {phase}: "
                                     f"{self.kube.events_for(self.namespace, name)}")
            if phase != "Running":
                raise NotYet(f"phase {phase}; events {self.kube.events_for(self.namespace, name)[-3:]}")
            return pod
        with allure.step(f"wait until pod {name} runs"):
            pod = wait_until(running, timeout=timeout or TIMEOUTS.pod_running, what=f"pod {self.namespace}/{name}")
        RECORDER.since(f"created {name}", timing.POD_READY)
        return pod

    def delete(self, name: str, grace: int | None = None, wait: bool = True) -> None:
        """Delete a pod; with `wait`, also wait until it is gone and the VFs it held are idle on the host."""
        held = self.vf_pci_addresses(name) if wait else []
        with allure.step(f"delete pod {name}" + (f" (grace {grace}s)" if grace is not None else "")):
            RECORDER.mark(f"deleted {name}")
            self.kube.delete_pod(self.namespace, name, grace)
        if wait:
            self.wait_gone(name)
            with allure.step(f"wait until the VFs of {name} are released: {held}"):
                wait_until(lambda: self._released(name, held), timeout=TIMEOUTS.pod_deleted,
                           what=f"VFs {held} of pod {self.namespace}/{name}")
            RECORDER.since(f"deleted {name}", timing.VF_RETURNED)

    def _released(self, name: str, pcis: list[str]) -> None:
        """Each VF is back idle on the host, or already taken by another pod (a pending pod may grab it first)."""
        pool = self.backend.pool()
        holder = checks.holders(self.backend)
        busy = []
        for p in pcis:
            vf = checks.vf_by_pci(pool, p)
            taken_by_other = vf.vf_class is VFClass.IN_USE and holder.get(p) not in (None, name)
            if vf.vf_class is not VFClass.IDLE and not taken_by_other:
                busy.append(f"{p}={vf.vf_class.value} in {vf.netns or 'host'} (holder {holder.get(p)})")
        if busy:
            raise NotYet(f"not released yet: {busy}")

    def wait_gone(self, name: str) -> None:
        def gone() -> None:
            pod = self.kube.pod(self.namespace, name)
            if pod is not None:
                raise NotYet(f"still there, phase {pod.status.phase if pod.status else None}")
        wait_until(gone, timeout=TIMEOUTS.pod_deleted, what=f"pod {self.namespace}/{name}")

    def network_status(self, name: str) -> list[dict[str, Any]]:
        return self.kube.network_status(self.namespace, name)

    def vf_pci_addresses(self, name: str) -> list[str]:
        return [s["device-info"]["pci"]["pci-address"] for s in self.network_status(name) if "device-info" in s]

    def exec(self, name: str, container: str, *cmd: str) -> str:
        return self.kube.kubectl("exec", "-n", self.namespace, name, "-c", container, "--", *cmd)

    def env(self, name: str, container: str = "c0") -> dict[str, str]:
        out = self.exec(name, container, "env")
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def addresses(self, name: str, ifname: str, container: str = "c0") -> list[str]:
        """IPv4 addresses of `ifname` as the pod sees them (busybox `ip` has no JSON output)."""
        out = self.exec(name, container, "ip", "addr", "show", "dev", ifname)
        return re.findall(r"inet (\S+)", out)


@pytest.fixture
def pods(kube: Kube, backend: Backend, namespace: str) -> Pods:
    return Pods(kube, backend, namespace)


# what e2e/conftest.py star-imports: every fixture (autouse ones included) and hook of the suites
__all__ = ["_flow_clock", "_requires", "artifacts_dir", "backend", "kube", "namespace", "pods",
           "pytest_addoption", "pytest_runtest_makereport", "pytest_sessionfinish", "pytest_terminal_summary",
           "settled_pool"]
