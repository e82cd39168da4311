"""Node and control-plane processes the local backend runs: started detached, tracked by PID file, stopped bounded.

A PID file holds the PID and the process's start time, so a recycled PID is never mistaken for ours (never signal
what we did not start).
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

from sriov_e2e.errors import HarnessError
from sriov_e2e.wait import NotYet, WaitTimeout, wait_until


@dataclass(frozen=True)
class Proc:
    name: str
    pid: int
    start_time: int


def _start_time(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return None
    if fields[0] == "Z":
        return None
    return int(fields[19])  # field 22 of stat: start time in clock ticks since boot


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


class Supervisor:
    """Processes of one cluster; PID files and logs under `run_dir` and `log_dir`."""

    def __init__(self, run_dir: Path, log_dir: Path, process_exit_timeout: float) -> None:
        self.run_dir = run_dir
        self.log_dir = log_dir
        self.timeout = process_exit_timeout

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _pidfile(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def get(self, name: str) -> Proc | None:
        """The live process recorded under `name`, or None (a dead or recycled PID is not ours)."""
        try:
            pid_s, start_s = self._pidfile(name).read_text().split()
        except (FileNotFoundError, ValueError):
            return None
        pid = int(pid_s)
        _reap(pid)
        return Proc(name, pid, int(start_s)) if _start_time(pid) == int(start_s) else None

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.run_dir.glob("*.pid")) if self.run_dir.is_dir() else []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        """Start `argv` in a new session (it outlives this process), stdout+stderr appended to its log."""
        if self.get(name) is not None:
            raise HarnessError(f"process {name}: already running")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_fd = os.open(self.log_path(name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            pid = os.posix_spawnp(
                argv[0], argv, env if env is not None else dict(os.environ),
                file_actions=[(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                              (os.POSIX_SPAWN_DUP2, log_fd, 1), (os.POSIX_SPAWN_DUP2, log_fd, 2)],
                setsid=True,
            )
        except FileNotFoundError:
            raise HarnessError(f"process {name}: {argv[0]} not found") from None
        finally:
            os.close(log_fd)
        start = _start_time(pid)
        if start is None:
            raise HarnessError(f"process {name}: exited at once; see {self.log_path(name)}")
        self._pidfile(name).write_text(f"{pid} {start}\n")
        return Proc(name, pid, start)

    def stop(self, name: str) -> None:
        """SIGTERM, then SIGKILL after the bound; quiet when it is not running."""
        proc = self.get(name)
        if proc is not None:
            self._signal_and_wait(proc)
        self._pidfile(name).unlink(missing_ok=True)

    def kill(self, name: str, sig: signal.Signals) -> None:
        proc = self.get(name)
        if proc is None:
            raise HarnessError(f"process {name}: not running")
        os.kill(proc.pid, sig)

    def _signal_and_wait(self, proc: Proc) -> None:
        def gone() -> None:
            _reap(proc.pid)
            if _start_time(proc.pid) == proc.start_time:
                raise NotYet(f"pid {proc.pid} still running")

        for sig, bound in ((signal.SIGTERM, self.timeout), (signal.SIGKILL, self.timeout)):
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                wait_until(gone, timeout=bound, what=f"process {proc.name}")
                return
            except WaitTimeout:
                if sig is signal.SIGKILL:
                    raise
