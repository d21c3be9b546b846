"""Ctrl-C (SIGINT to the process group, as a terminal sends it) stops any command within a second.

The commands run as forked `python -m azsqlctl` processes (tests/cli_fork.py: the same code, signal dispositions and
exit codes as a real interpreter's, held to it by tests/e2e/test_cli_fork.py, for ~0.02 s of CPU each instead of
~0.3 s); the stand-in Popen starts passes each signal it gets on to the command. Only the first instants, before
azsqlctl's own code runs, need real interpreters, and get them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from azsqlctl.core.errors import ExitCode
from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.surfaces import LogsSurface
from tests import cli_fork
from tests.e2e.test_sandbox_cli import proc_stat

pytestmark = [
    pytest.mark.sandbox_keys,  # CLI sandboxes over --state in tmp_path: the session's keys (tests/conftest.py)
    pytest.mark.usefixtures("cli_fork"),
]

ORDERS = "27c1c882-4791-57cf-8622-933abbac9865"  # the sandbox's orders-api client id (stable: derived from its name)


def _start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*cli_fork.COMMAND, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        start_new_session=True,  # its own process group, so killpg reaches it (and only it) like a terminal's Ctrl-C
    )


def _wait_for(predicate: object, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("the command never reached the stalled step")


def _interrupt(proc: subprocess.Popen[str]) -> tuple[float, str, str]:
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return time.monotonic() - sent, out, err


@pytest.mark.parametrize("fmt", ["human", "json"])
@pytest.mark.parametrize(
    "command",
    [["doctor", "--database", "appdb"], ["whoami"], ["grant", "orders-api", "--role", "reader", "--client-id", ORDERS, "--dry-run"]],
)
def test_ctrl_c_during_a_stalled_login(sandbox: Sandbox, client_env: dict[str, str], command: list[str], fmt: str) -> None:
    fault = sandbox.faults.inject(
        "tds", "stall", count=None, delay=20
    )  # far longer than the 5 s allowed; the driver's login never gets an answer
    proc = _start([*command, "-o", fmt])
    _wait_for(lambda: fault.hits > 0 or proc.poll() is not None)
    assert proc.poll() is None, proc.communicate()
    time.sleep(0.2)  # inside the driver's blocking login call
    elapsed, out, err = _interrupt(proc)
    assert proc.returncode == ExitCode.INTERRUPTED, (out, err)
    assert elapsed < 5.0, f"took {elapsed:.2f} s to stop"  # not the stall's 20 s (a bound near the usual time flakes on a busy machine)
    assert "Traceback" not in err and "driver did not supply" not in out + err
    if fmt == "json":
        envelope = json.loads(out)
        assert (envelope["status"], envelope["exit_code"], envelope["command"]) == ("interrupted", 130, command[0])
        assert envelope["errors"][0]["code"] == "interrupted"
        assert err == ""
    else:
        assert out == ""
        assert err.strip().splitlines() == [f"Interrupted: {command[0]} stopped (Ctrl-C)"]


# --- the first instants: before the runner's handlers exist -------------------------------------


def test_a_signal_in_the_first_instants_exits_quietly(tmp_path: Path) -> None:
    """SIGINT/SIGTERM from the first line of azsqlctl on: 130/143, never a KeyboardInterrupt traceback.

    Before azsqlctl's first line runs only the interpreter itself can be hit (killed by the signal,
    or its own "Fatal Python error: init_..." report while it sets up its streams or imports `site`): that is
    counted, never ours.
    """
    outcomes: list[str] = []
    for i in range(40):
        sig = signal.SIGINT if i % 2 else signal.SIGTERM
        proc = subprocess.Popen([sys.executable, "-m", "azsqlctl", "whoami", "--server", "localhost,1", "--database", "appdb"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=dict(os.environ, PYTHONFAULTHANDLER="1"))  # fmt: skip
        time.sleep((i // 2) * 0.012)  # 0 to ~230 ms: the interpreter, runpy, then Typer, rich and the SDKs importing
        if proc.poll() is not None:  # already done (a fast, idle machine): nothing to interrupt
            proc.communicate()
            continue
        proc.send_signal(sig)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # a hang: every thread's stack (faulthandler on SIGABRT) says where
            proc.send_signal(signal.SIGABRT)
            raise AssertionError((i, sig, "no exit 30 s after the signal", proc.communicate()[1][-8000:])) from None
        if proc.returncode == -sig or "Fatal Python error: init_" in err:
            outcomes.append("interpreter")  # before any azsqlctl code: not ours to handle
            continue
        assert proc.returncode == 128 + sig, (i, proc.returncode, err)
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, (i, err)
        assert out == "", out
        outcomes.append("quiet")
    assert outcomes.count("quiet") >= 15, outcomes  # most instants are ours (the interpreter alone takes 30-100 ms on a busy machine)


# --- logs --follow: SIGTERM prints the summary too ---------------------------------------------------


def test_logs_follow_prints_its_summary_on_sigterm(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    proc = _start(["logs", "--follow", "--since", "5m", "--interval", "200ms"])
    started = time.monotonic()
    _wait_for(lambda: len(sandbox.surface(LogsSurface).service.log.queries) >= 2 or proc.poll() is not None)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)  # to azsqlctl only, as a supervisor sends it
    _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("Stopped: ")], err
    assert time.monotonic() - started < 30


# --- grant --policy interrupted: what was applied, rolled back, untouched -----------------------------


def test_grant_policy_interrupted_reports_each_database(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    from azsqlctl.sandbox.state import Database

    names = [f"tenant_{i}" for i in range(6)]
    with sandbox.store.mutate() as s:
        s.server.databases += [Database(n, schemas=["dbo"]) for n in names]
    policy = tmp_path / "access.toml"
    policy.write_text(f'[identities.orders-api]\nclient_id = "{ORDERS}"\n[[targets]]\ndatabases = ["tenant_*"]\n'
                      'grants = { orders-api = ["reader"] }\n')  # fmt: skip
    sandbox.faults.inject("tds", "delay", count=None, delay=0.15)  # every request: each database takes a while
    proc = _start(["grant", "--policy", str(policy), "--apply", "--concurrency", "1", "-o", "json"])

    def user_in(name: str) -> bool:  # the database's committed security state (in its data file)
        db = sandbox.sql.storage.security(name)
        return db is not None and db.user("orders-api") is not None

    def applied_somewhere() -> bool:
        return any(user_in(name) for name in names)

    _wait_for(lambda: applied_somewhere() or proc.poll() is not None, seconds=60)
    assert proc.poll() is None, proc.communicate()
    elapsed, out, err = _interrupt(proc)
    assert proc.returncode == 130, (out, err)
    assert elapsed < 4, elapsed  # a COMMIT on the wire is waited for, briefly
    envelope = json.loads(out)
    assert envelope["status"] == "interrupted"
    rows = {r["database"]: r["status"] for r in envelope["data"]["targets"]}
    assert set(rows) == set(names)
    assert set(rows.values()) <= {"applied", "rolled back", "untouched"}, rows
    assert "applied" in rows.values() and "untouched" in rows.values(), rows
    time.sleep(1.0)  # whatever the abandoned worker had open is gone with its connection
    state = {name: user_in(name) for name in names}
    for name, status in rows.items():  # the report is the truth: applied means there, the others mean not
        assert state[name] == (status == "applied"), (name, status, state)
    summary = envelope["data"]["summary"]
    assert summary["applied"] + summary["rolled_back"] + summary["untouched"] == len(names)


def test_grant_policy_interrupted_human_report(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    from azsqlctl.sandbox.state import Database

    names = [f"tenant_{i}" for i in range(4)]
    with sandbox.store.mutate() as s:
        s.server.databases += [Database(n, schemas=["dbo"]) for n in names]
    policy = tmp_path / "access.toml"
    policy.write_text(f'[identities.orders-api]\nclient_id = "{ORDERS}"\n[[targets]]\ndatabases = ["tenant_*"]\n'
                      'grants = { orders-api = ["reader"] }\n')  # fmt: skip
    sandbox.faults.inject("tds", "delay", count=None, delay=0.15)
    proc = _start(["grant", "--policy", str(policy), "--apply", "--concurrency", "1"])

    def databases() -> list[Database]:  # each one's committed security state (in its data file)
        return [db for name in names if (db := sandbox.sql.storage.security(name)) is not None]

    _wait_for(lambda: any(db.user("orders-api") for db in databases()) or proc.poll() is not None, seconds=60)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 143, err
    lines = err.strip().splitlines()
    assert lines[0] == "Interrupted: grant stopped (SIGTERM)", err
    assert lines[1].startswith("Databases: ") and "applied" in lines[1], err
    assert any(line.startswith("  applied: tenant_0 on ") for line in lines), err
    assert "Traceback" not in err


# --- scaffold: temp files never outlive a run ---------------------------------------------------------


def test_scaffold_interrupted_leaves_no_temp_files_and_a_later_run_removes_stale_ones(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    interrupted = 0
    for i in range(12):
        shutil.rmtree(project, ignore_errors=True)  # every file to write (a run leaves files already up to date alone)
        sig = signal.SIGINT if i % 2 else signal.SIGTERM
        proc = subprocess.Popen([*cli_fork.COMMAND, "scaffold", str(project), "--force", "--package", "app.db"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))  # fmt: skip
        # Inside the writes, at different files: once the run has put 1 to 6 of its files in place.
        deadline = time.monotonic() + 30
        while proc.poll() is None and _files_in_place(project) <= i % 6 and time.monotonic() < deadline:
            time.sleep(0.001)
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode in (0, 128 + sig), (i, proc.returncode, err)  # 0: it had written everything already
        interrupted += proc.returncode != 0
        assert "Traceback" not in err, err
        left = [p for p in project.rglob("*") if ".azsqlctl-tmp." in p.name] if project.exists() else []
        assert left == [], (i, proc.returncode, left)
    assert interrupted >= 6, interrupted  # the signals came inside the writes (all 12 do on an idle machine)
    # A temp file whose writer was killed outright (SIGKILL: no handler runs) is stale: the next run removes it.
    (project / "app" / "db").mkdir(parents=True, exist_ok=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    stale = project / "app" / "db" / f".settings.py.azsqlctl-tmp.{dead}.0badc0de"
    stale.write_text("half a file")
    unrelated = project / "app" / "db" / ".settings.py.tmp"  # not ours by name: never touched
    unrelated.write_text("someone else's")
    check = subprocess.run([*cli_fork.COMMAND, "scaffold", str(project), "--check", "-o", "json"],
                           capture_output=True, text=True, env=dict(os.environ), timeout=60)  # fmt: skip
    assert not stale.exists(), check.stderr
    assert unrelated.exists()
    assert str(stale.relative_to(project)) in json.loads(check.stdout)["data"]["removed_temp_files"]


def _files_in_place(root: Path) -> int:
    """The files under ``root``, temporary ones left out."""
    return sum(1 for path in root.rglob("*") if ".azsqlctl-tmp." not in path.name and path.is_file()) if root.exists() else 0


# --- sandbox run: the command's whole process group, and nothing left behind -------------------------


def _descendants_of_group(pgid: int) -> list[int]:
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive.append(int(entry.name))
    return alive


def _sandbox_run(tmp_path: Path, script: str, *options: str) -> subprocess.Popen[str]:
    from tests.e2e.test_sandbox_cli import clean_env

    return subprocess.Popen([*cli_fork.COMMAND, "sandbox", "run", "--state", str(tmp_path / "s.json"), *options,
                             "--", "sh", "-c", script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(tmp_path),
                            stdin=subprocess.DEVNULL)  # fmt: skip


def _parent(pid: int) -> int:
    stat = proc_stat(pid)
    assert stat is not None, f"process {pid} is gone"
    return int(stat[1])


def _group_of_child(tmp_path: Path, proc: subprocess.Popen[str]) -> int:
    pid_file = tmp_path / "sh.pid"
    _wait_for(lambda: (pid_file.exists() and pid_file.read_text().strip()) or proc.poll() is not None, seconds=60)
    assert proc.poll() is None, proc.communicate()
    time.sleep(0.3)  # the grandchild is running
    return os.getpgid(int(pid_file.read_text()))


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sandbox_run_signals_the_commands_whole_group(tmp_path: Path, sig: signal.Signals, code: int) -> None:
    proc = _sandbox_run(tmp_path, f"echo $$ > {tmp_path}/sh.pid; sleep 300; echo done")
    try:
        pgid = _group_of_child(tmp_path, proc)
        assert pgid != os.getpgid(_parent(int((tmp_path / "sh.pid").read_text())))  # a group of its own, not sandbox run's
        assert len(_descendants_of_group(pgid)) == 2  # sh and its grandchild sleep
        started = time.monotonic()
        proc.send_signal(sig)  # to azsqlctl's pid only, as a supervisor sends it (SIGINT is not ignored)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert time.monotonic() - started < 3
    assert "done" not in out
    assert _descendants_of_group(pgid) == [], "sleep 300 was left behind"


def test_sandbox_run_kills_a_command_that_ignores_signals_after_the_grace_period(tmp_path: Path) -> None:
    # sh traps TERM and INT (its sleep inherits the ignored dispositions): only SIGKILL ends them.
    proc = _sandbox_run(tmp_path, f"trap '' TERM INT; echo $$ > {tmp_path}/sh.pid; sleep 300; echo done", "--kill-after", "1")
    try:
        pgid = _group_of_child(tmp_path, proc)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    elapsed = time.monotonic() - started
    assert proc.returncode == 137, err  # 128 + SIGKILL, as a shell reports it
    assert 0.9 < elapsed < 4, elapsed
    assert "done" not in out and "Traceback" not in err
    assert _descendants_of_group(pgid) == []


def test_sandbox_run_a_child_that_traps_and_exits_and_a_second_signal_kills_at_once(tmp_path: Path) -> None:
    # The child handles INT itself (exit 7); its background sleep ignores INT (as a non-interactive shell's
    # background jobs do), so it outlives the child: SIGTERM to the group at the end takes it, without waiting.
    script = f"trap 'exit 7' INT; echo $$ > {tmp_path}/sh.pid; sleep 300 & wait"
    proc = _sandbox_run(tmp_path, script, "--kill-after", "30")
    try:
        pgid = _group_of_child(tmp_path, proc)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 7, err
    assert time.monotonic() - started < 3
    assert _descendants_of_group(pgid) == []

    (tmp_path / "sh.pid").unlink()
    proc = _sandbox_run(tmp_path, f"trap '' TERM INT; echo $$ > {tmp_path}/sh.pid; sleep 300", "--kill-after", "60")
    try:
        pgid = _group_of_child(tmp_path, proc)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)  # asked twice: no 60 s wait
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 137
    assert time.monotonic() - started < 3
    assert _descendants_of_group(pgid) == []


def test_sandbox_run_ends_what_the_command_left_running(tmp_path: Path) -> None:
    proc = _sandbox_run(tmp_path, f"echo $$ > {tmp_path}/sh.pid; sleep 300 & echo $! > {tmp_path}/bg.pid; exit 0")
    try:
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    background = int((tmp_path / "bg.pid").read_text())
    stat = proc_stat(background)
    assert stat is None or stat[0] == "Z", "the background sleep outlived sandbox run"
