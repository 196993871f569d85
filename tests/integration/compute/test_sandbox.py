"""The bubblewrap sandbox against the hostile programs of ``hostile/`` (each a standalone algorithm).

Skipped where bwrap cannot build a sandbox, except under ``CI=true``, where that fails. Tests that
need root (the tmpfs for /out, cgroups) skip without it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from compute_to_data import sandbox
from compute_to_data.sandbox import (
    Limits,
    SandboxResult,
    SandboxSpec,
    availability,
    cgroups,
    command,
    process,
)

pytestmark = pytest.mark.integration

HOSTILE = Path(__file__).parent / "hostile"
MIB = 1 << 20
#: Small limits so that every test ends in seconds.
LIMITS = Limits(
    wall_time_s=5,
    cpu_time_s=10,
    memory_bytes=1 << 30,
    output_bytes=4 * MIB,
    tmp_bytes=16 * MIB,
    file_size_bytes=128 * MIB,
    open_files=128,
    processes=48,
    log_bytes=64 * 1024,
)
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root (tmpfs for /out, cgroups)")


@pytest.fixture(scope="module", autouse=True)
def bwrap() -> str:
    try:
        return sandbox.check_available()
    except sandbox.SandboxUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the sandbox must run on CI: {exc}")
        pytest.skip(str(exc))


@dataclass
class Job:
    root: Path
    data: Path
    job: Path
    out: Path
    log: Path
    name: str

    def spec(self, script: str, limits: Limits = LIMITS, **overrides: Any) -> SandboxSpec:
        algorithm = self.job / "algorithm"
        algorithm.mkdir(exist_ok=True)
        shutil.copyfile(HOSTILE / f"{script}.py", algorithm / "main.py")
        os.chmod(algorithm / "main.py", 0o644)
        values: dict[str, Any] = {
            "argv": ("python3", "/job/algorithm/main.py"),
            "data_dir": self.data,
            "job_dir": self.job,
            "out_dir": self.out,
            "log_path": self.log,
            "name": self.name,
            "limits": limits,
        }
        values.update(overrides)
        return SandboxSpec(**values)

    def params(self, **params: Any) -> None:
        document = {"params": params, "epsilon": None, "delta": 1e-5, "device": "cpu", "files": [], "seed": 0}
        (self.job / "params.json").write_text(json.dumps(document))
        os.chmod(self.job / "params.json", 0o644)

    def report(self) -> dict[str, Any]:
        return json.loads((self.out / "report.json").read_text())

    def logs(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def job(tmp_path: Path) -> Iterator[Job]:
    """A job's folders as the runner lays them out: private parent, readable data and job folders."""
    root = tmp_path / "job"
    root.mkdir(mode=0o700)
    data, job_dir, out = root / "data", root / "job", root / "out"
    for folder in (data, job_dir):
        folder.mkdir()
        os.chmod(folder, 0o755)
    (data / "table.csv").write_text("id,value\n" + "".join(f"{i},{i * i}\n" for i in range(100)))
    os.chmod(data / "table.csv", 0o644)
    made = Job(root, data, job_dir, out, root / "job.log", f"test-{secrets.token_hex(6)}")
    made.params()
    sandbox.prepare_output(out, LIMITS.output_bytes)
    try:
        yield made
    finally:
        sandbox.release_output(out)
        assert not _cgroups_named(made.name), "the job's cgroups were left behind"


def _cgroups_named(name: str) -> list[Path]:
    try:
        bases = cgroups._cgroup_bases()
    except OSError:
        return []
    return [base / name for _, _, base in bases if (base / name).exists()]


def _has_memory_cgroup() -> bool:
    made, _ = cgroups._Cgroups.create(f"probe-{secrets.token_hex(4)}", Limits())
    if made is None:
        return False
    try:
        return made.memory is not None
    finally:
        made.remove()


def _processes_with(token: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if token.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def run(spec: SandboxSpec, **kwargs: Any) -> SandboxResult:
    result = sandbox.run(spec, **kwargs)
    assert result.reason in sandbox.REASONS
    assert not _cgroups_named(spec.name)
    return result


# --------------------------------------------------------------------------------------------------


def test_a_normal_job_reads_data_and_writes_out(job: Job) -> None:
    job.params(answer=42)
    lines: list[str] = []
    result = run(job.spec("normal"), on_line=lines.append)
    assert (result.exit_code, result.signal, result.reason) == (0, None, "exited"), job.logs()
    written = json.loads((job.out / "result.json").read_text())
    assert written["files"] == {"table.csv": (job.data / "table.csv").stat().st_size}
    assert written["rows"] == 101
    assert (written["thread"], written["child"]) == (499500, 42)
    assert written["params"] == {"answer": 42}
    assert written["cwd"] == "/tmp"
    if ROOT:
        assert written["uid"] == sandbox.NOBODY
    assert lines == ["progress: 0.0", "progress: 0.5", "progress: 1.0", "done"]
    assert job.logs() == "progress: 0.0\nprogress: 0.5\nprogress: 1.0\ndone\n"
    assert not result.log_truncated
    assert result.first_output_s is not None and 0 < result.first_output_s <= result.wall_s
    if _has_memory_cgroup():
        assert result.peak_memory_bytes is not None and result.peak_memory_bytes > 1 * MIB
    else:
        assert result.peak_memory_bytes is None


@needs_root
def test_without_setpriv_python_drops_to_nobody(job: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    access = os.access
    monkeypatch.setattr(command.os, "access", lambda p, m: p != "/usr/bin/setpriv" and access(p, m))
    assert command._drop_to_nobody("/x/bin")[0] == "/x/bin/python3"
    result = run(job.spec("normal"))
    assert (result.exit_code, result.reason) == (0, "exited"), job.logs()
    assert json.loads((job.out / "result.json").read_text())["uid"] == sandbox.NOBODY


def test_first_output_is_timed_from_the_start(job: Job) -> None:
    job.params(delay=1.0)
    result = run(job.spec("normal"))
    assert result.reason == "exited" and result.exit_code == 0
    assert result.first_output_s is not None and 1.0 <= result.first_output_s < result.wall_s


def test_the_environment_is_cleared(job: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = secrets.token_hex(16)
    monkeypatch.setenv("DATAMARKET_TEST_SECRET", secret)
    spec = job.spec("read_host", env={"EXTRA_SETTING": "yes"})
    result = run(spec)
    assert result.exit_code == 0, job.logs()
    report = job.report()
    assert set(report["environ"]) == {
        "EXTRA_SETTING",
        "HF_HUB_OFFLINE",
        "HOME",
        "LANG",
        "OMP_NUM_THREADS",
        "PATH",
        "PWD",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
        "TMPDIR",
        "TRANSFORMERS_OFFLINE",
    }
    loot = (job.out / "loot.txt").read_text()
    assert secret not in loot and secret not in job.logs()
    # /proc/1 is the sandbox's own first process (bwrap), not the host's init; as root it belongs to
    # uid 0 there, so the job cannot even read it.
    assert "read" not in report["/proc/1/environ"] or secret not in loot


def test_host_files_are_out_of_sight(job: Job, tmp_path: Path) -> None:
    hidden = tmp_path / "elsewhere"
    hidden.mkdir()
    token = secrets.token_hex(16)
    (hidden / "secret.txt").write_text(token)
    os.chmod(hidden, 0o755)
    os.chmod(hidden / "secret.txt", 0o644)
    (job.root / "other-job-data.csv").write_text(token)
    job.params(paths=[str(hidden / "secret.txt"), str(hidden), str(job.root), str(tmp_path)])
    result = run(job.spec("read_host"))
    assert result.exit_code == 0, job.logs()
    report = job.report()
    loot = (job.out / "loot.txt").read_text()
    assert token not in loot and token not in job.logs()
    assert report[str(hidden / "secret.txt")] == "missing"
    assert report["/etc/shadow"] == "missing"
    # Only what leads to the Python installation is under /root, nothing of the host's /root.
    allowed = {Path(p).resolve().parts[2] for p in {sys.prefix, sys.base_prefix} if p.startswith("/root/")}
    root_listing = report["/root"]
    if root_listing != "missing":
        assert set(eval(root_listing.removeprefix("listed "))) <= allowed
    for parent in ("/job/..", "/data/..", "/out/.."):  # the sandbox's root, not the job's host folder
        assert "other-job-data.csv" not in report[parent]
    assert report["/sys"] == "missing"
    assert report["/home"] == "missing"


def test_no_network(job: Job) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        job.params(host_port=listener.getsockname()[1])
        result = run(job.spec("network"))
        assert result.exit_code == 0, job.logs()
        with pytest.raises(BlockingIOError):
            listener.accept()
    report = job.report()
    assert "ConnectionRefusedError" in report["host_loopback"]
    for attempt in ("public_tcp", "public_udp", "dns"):
        assert report[attempt].startswith("blocked"), report
    assert report["interfaces"] == ["lo"]


def test_writes_outside_out_and_tmp_fail(job: Job) -> None:
    before = sorted(p.name for p in job.data.iterdir())
    result = run(job.spec("write_outside"))
    assert result.exit_code == 0, job.logs()
    report = job.report()
    allowed = {"/tmp/allowed.txt", "/dev/shm/allowed.txt", "/out/allowed.txt"}
    for path, outcome in report.items():
        if path in allowed:
            assert outcome == "WROTE", (path, outcome)
        else:
            assert outcome.startswith("denied"), (path, outcome)
    assert report["/data/planted.txt"] == "denied: EROFS"
    assert report["/job/planted.txt"] == "denied: EROFS"
    assert report["/usr/planted.txt"] == "denied: EROFS"
    assert sorted(p.name for p in job.data.iterdir()) == before
    assert not (job.root / "planted.txt").exists()
    assert (job.out / "allowed.txt").exists()


def test_kernel_surface_is_refused(job: Job) -> None:
    result = run(job.spec("kernel_surface"))
    assert result.exit_code == 0, job.logs()
    report = job.report()
    assert all(outcome.startswith("denied") for outcome in report.values()), report
    if sandbox.seccomp_filter() is not None:
        for name in (
            "unshare_user",
            "clone_newuser",
            "keyctl_read_user_keyring",
            "add_key",
            "io_uring_setup",
        ):
            assert report[name] == "denied: EPERM", (name, report[name])


@needs_root
def test_a_full_out_refuses_writes_and_the_job_ends(job: Job) -> None:
    assert os.path.ismount(job.out)
    result = run(job.spec("fill_output"))
    assert (result.exit_code, result.reason) == (0, "exited"), job.logs()
    report = job.report()
    assert report["error"] == "ENOSPC"
    assert report["mib"] <= LIMITS.output_bytes // MIB
    usage = shutil.disk_usage(job.out)
    assert usage.total <= LIMITS.output_bytes


def test_a_plain_out_folder_is_watched(job: Job, tmp_path: Path) -> None:
    plain = tmp_path / "plain-out"
    plain.mkdir()
    os.chmod(plain, 0o777)
    job.params(pause=0.02, max_mib=200)
    limits = replace(LIMITS, output_bytes=3 * MIB)
    result = run(job.spec("fill_output", limits, out_dir=plain))
    assert result.reason == "output_full", job.logs()


def test_a_huge_allocation_fails(job: Job) -> None:
    job.params(mode="once", gib=20)
    result = run(job.spec("memory_hog"))
    assert result.exit_code != 0
    assert result.reason in ("memory", "killed")
    assert "got" not in job.logs()
    assert os.getloadavg() is not None  # the host goes on


@needs_root
def test_the_memory_cgroup_kills_without_an_address_space_limit(
    job: Job, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GPU jobs have no RLIMIT_AS: the memory cgroup alone must stop them."""
    if not _has_memory_cgroup():
        pytest.skip(f"no memory cgroup here: {sandbox.probe_cgroups()}")
    original = process._rlimits

    def without_as(*args: Any) -> list[tuple[int, tuple[int, int]]]:
        return [item for item in original(*args) if item[0] != process.resource.RLIMIT_AS]

    monkeypatch.setattr(process, "_rlimits", without_as)
    job.params(mode="touch")
    result = run(job.spec("memory_hog", replace(LIMITS, memory_bytes=256 * MIB)))
    assert result.reason == "memory", (result, job.logs())
    assert result.signal == signal.SIGKILL
    assert result.peak_memory_bytes is not None and result.peak_memory_bytes <= 256 * MIB


def test_a_fork_bomb_is_contained(job: Job) -> None:
    job.params(seconds=1.5)
    result = run(job.spec("fork_bomb"))
    assert (result.exit_code, result.reason) == (0, "exited"), job.logs()
    # The cgroup counts bwrap outside the namespace; RLIMIT_NPROC (no cgroups) counts uid 65534's
    # tasks, and the sandbox's first process (root) comes on top: at most one more either way.
    assert job.report()["processes"] <= LIMITS.processes + 1


@needs_root
def test_a_fork_bomb_is_contained_without_cgroups(
    job: Job, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The fallback: RLIMIT_NPROC holds for uid 65534 (not for root, where a fork bomb gets through)."""
    monkeypatch.setattr(cgroups._Cgroups, "create", classmethod(lambda cls, *a: (None, ["cgroups disabled"])))
    job.params(seconds=1.5)
    with caplog.at_level(logging.WARNING, logger=sandbox.__name__):
        result = run(job.spec("fork_bomb"))
    assert (result.exit_code, result.reason) == (0, "exited"), job.logs()
    assert job.report()["processes"] <= LIMITS.processes + 1
    assert "RLIMIT_NPROC" in caplog.text


def test_wall_time(job: Job) -> None:
    job.params(mode="sleep")
    limits = replace(LIMITS, wall_time_s=2)
    result = run(job.spec("run_forever", limits))
    assert result.reason == "wall_time"
    assert result.signal == signal.SIGKILL and result.exit_code is None
    assert limits.wall_time_s <= result.wall_s < 3 * limits.wall_time_s
    assert job.logs() == "started\n"


def test_cpu_time(job: Job) -> None:
    result = run(job.spec("cpu_burn", replace(LIMITS, cpu_time_s=1)))
    assert result.reason == "cpu_time", (result, job.logs())
    assert result.signal in (signal.SIGXCPU, signal.SIGKILL)


def test_file_size(job: Job) -> None:
    job.params(mib=8)
    result = run(job.spec("big_file", replace(LIMITS, file_size_bytes=2 * MIB)))
    assert result.exit_code != 0
    assert result.reason == "file_size", (result, job.logs())
    assert "wrote it all" not in job.logs()


def test_a_daemon_dies_with_the_job(job: Job) -> None:
    token = f"datamarket-daemon-{secrets.token_hex(8)}"
    job.params(token=token)
    result = run(job.spec("daemon"))
    assert (result.exit_code, result.reason) == (0, "exited"), job.logs()
    marker = job.out / "daemon.log"
    assert marker.exists(), job.logs()
    size = marker.stat().st_size
    time.sleep(0.5)
    assert marker.stat().st_size == size, "the daemon still writes after the job ended"
    assert _processes_with(token) == []


def test_logs_are_capped_and_drained(job: Job) -> None:
    lines: list[str] = []
    result = run(job.spec("log_flood"), on_line=lines.append)
    assert (result.exit_code, result.reason) == (0, "exited")
    assert result.log_truncated
    assert job.log.stat().st_size == LIMITS.log_bytes
    assert max(len(line) for line in lines) <= sandbox.MAX_LINE
    assert lines[-2:] == ["stderr is captured too", "progress: 1.0"]
    assert len(lines) == 4 * 10486 + 3


def test_cancel(job: Job) -> None:
    cancel = threading.Event()
    job.params(mode="spin")
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    try:
        result = run(job.spec("run_forever"), cancel=cancel)
    finally:
        timer.cancel()
    assert result.reason == "cancelled"
    assert 0.5 <= result.wall_s < LIMITS.wall_time_s  # stopped by the cancel, not the wall time


def test_a_failing_on_line_does_not_stop_the_job(job: Job) -> None:
    def broken(line: str) -> None:
        raise ValueError(line)

    result = run(job.spec("normal"), on_line=broken)
    assert (result.exit_code, result.reason) == (0, "exited")
    assert "done" in job.logs()


def test_a_missing_program_is_the_job_failing(job: Job) -> None:
    spec = replace(job.spec("normal"), argv=("python3", "/job/algorithm/absent.py"))
    result = run(spec)
    assert (result.exit_code, result.reason) == (2, "exited")
    assert "absent.py" in job.logs()


def test_invalid_specs_are_refused(job: Job) -> None:
    with pytest.raises(sandbox.SandboxError) as caught:
        sandbox.run(replace(job.spec("normal"), name="../escape"))
    assert caught.value.code == "sandbox_spec"
    with pytest.raises(sandbox.SandboxError):
        sandbox.run(replace(job.spec("normal"), data_dir=job.root / "absent"))
    with pytest.raises(sandbox.SandboxError):
        sandbox.run(replace(job.spec("normal"), gpus=(99,)))


def test_concurrent_jobs(tmp_path: Path) -> None:
    jobs = []
    for index in range(3):
        root = tmp_path / f"j{index}"
        root.mkdir()
        made = Job(
            root, root / "data", root / "job", root / "out", root / "log", f"test-{secrets.token_hex(6)}"
        )
        for folder in (made.data, made.job, made.out):
            folder.mkdir()
            os.chmod(folder, 0o777)
        (made.data / "table.csv").write_text("a\n1\n")
        made.params(answer=index)
        jobs.append(made)
    results: dict[int, SandboxResult] = {}
    threads = [
        threading.Thread(target=lambda i=i, j=j: results.__setitem__(i, run(j.spec("normal"))))
        for i, j in enumerate(jobs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for index, made in enumerate(jobs):
        assert results[index].exit_code == 0, made.logs()
        assert json.loads((made.out / "result.json").read_text())["params"] == {"answer": index}


@needs_root
def test_sweep_removes_leftover_cgroups() -> None:
    bases = [base for _, _, base in cgroups._cgroup_bases()]
    if not bases:
        pytest.skip("no cgroups")
    prefix = f"sweep-{secrets.token_hex(4)}-"
    made = []
    for base in bases:
        base.mkdir(exist_ok=True)
        (base / f"{prefix}a").mkdir()
        made.append(base / f"{prefix}a")
    (bases[0] / "unrelated-keep").mkdir(exist_ok=True)
    try:
        sandbox.sweep(prefix)
        assert not any(folder.exists() for folder in made)
        assert (bases[0] / "unrelated-keep").exists()
    finally:
        (bases[0] / "unrelated-keep").rmdir()


@needs_root
def test_prepare_and_release_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    sandbox.prepare_output(out, 2 * MIB)
    try:
        assert os.path.ismount(out)
        assert shutil.disk_usage(out).total == 2 * MIB
        assert out.stat().st_uid == sandbox.NOBODY
        sandbox.prepare_output(out, 3 * MIB)  # again: a fresh one
        assert shutil.disk_usage(out).total == 3 * MIB
    finally:
        sandbox.release_output(out)
    assert not os.path.ismount(out)
    sandbox.release_output(out)  # idempotent


def test_cgroup_v2_groups_are_made_with_their_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the parent group exists (the kernel fills in a real one's files; here they are written)."""
    base = tmp_path / "own" / "datamarket"
    base.mkdir(parents=True)
    (base / "cgroup.controllers").write_text("cpu io memory pids\n")
    (base / "cgroup.subtree_control").write_text("\n")
    monkeypatch.setattr(cgroups, "_cgroup_bases", lambda: [(2, "", base)])
    made, problems = cgroups._Cgroups.create("job-1", Limits(processes=7, memory_bytes=12345))
    assert made is not None and problems == []
    assert made.version == 2 and made.pids == made.memory == base / "job-1"
    assert (base / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert (base / "job-1" / "pids.max").read_text() == "7"
    assert (base / "job-1" / "memory.max").read_text() == "12345"
    assert made.procs_files() == [os.fsencode(base / "job-1" / "cgroup.procs")]


def test_unavailable_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(availability, "_bwrap", None)
    monkeypatch.setattr(availability.shutil, "which", lambda *a, **k: None)
    monkeypatch.setattr(availability.os, "access", lambda *a, **k: False)
    with pytest.raises(sandbox.SandboxUnavailable) as caught:
        sandbox.check_available()
    assert caught.value.code == "sandbox_unavailable"
    assert "apt-get install bubblewrap" in str(caught.value)


def test_seccomp_program_shape() -> None:
    for machine in ("x86_64", "aarch64"):
        program = sandbox.seccomp_filter(machine)
        assert program is not None and len(program) % 8 == 0 and len(program) // 8 < 4096
    assert sandbox.seccomp_filter("sparc") is None
