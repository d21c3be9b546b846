"""`python -m azsqlctl` for tests that run the CLI as a process many times, without an interpreter start each time.

A `python -m azsqlctl` process spends ~0.25-0.35 s of CPU starting the interpreter and importing Typer, rich,
azure-identity, pyodbc and the sandbox before its command runs; the docs examples and the CI-job tests run hundreds
of them (shell scripts under `sandbox run`, each step a new process), and that start-up was most of their cost.

Here one server process per pytest run (its xdist workers share it: ForkServer) imports all of that once and then,
per request, forks a process that runs `python -m azsqlctl` exactly as the interpreter does (runpy, as `-m` does)
with the request's arguments, environment, working directory, umask, signal dispositions and stdin/stdout/stderr. `COMMAND` (the path of
tests/cli_fork_client.py made executable) is what a test runs in place of `[sys.executable, "-m", "azsqlctl"]`: it
stays alive as the command's stand-in, so exit codes, signals and pipes behave as with the real process.

What the interpreter decides at start-up from the environment is not redone in a forked process, so a request whose
environment differs from the server's in any of it (PYTHON* variables, the locale, OpenSSL's and Typer's import-time
variables, a PYTHONPATH that finds another azsqlctl) is run by exec'ing a real `python -m azsqlctl` instead: slower,
never different. The tests of process start-up itself (signals in the first instants, --help's import budget,
driver discovery, the console script) keep starting real interpreters (test_signals, test_help, test_cli,
test_driver_discovery); tests/e2e/test_cli_fork.py holds forked and real runs to the same outputs and exit codes.
"""

from __future__ import annotations

import array
import atexit
import contextlib
import fcntl
import gc
import io
import marshal
import os
import re
import runpy
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, NoReturn, TypedDict, cast

from tests.cli_fork_client import is_open

ROOT = Path(__file__).resolve().parents[1]
Mode = Literal["azsqlctl", "script"]  # `python -m azsqlctl ...`, or `python <script> ...`
SCRIPT: Mode = "script"

# Read by the interpreter or by an imported module once, at start-up (a forked process keeps the server's):
# a request that differs in any of these gets a real interpreter.
_START_UP_PREFIXES = ("PYTHON", "LC_", "OPENSSL_")
_START_UP_NAMES = frozenset({"LANG", "LANGUAGE"})
# Read when a module is imported: they count only if the server imported it (a command that imports it reads the
# request's values itself). typer.rich_utils is left to the commands (the preload does not import it), so a request
# under `sandbox run --as github:...` (GITHUB_ACTIONS=true, which forces Typer's help onto a terminal) is forked too.
_READ_AT_IMPORT = {
    "typer.core": ("TYPER_USE_RICH",),
    "typer.rich_utils": ("TERMINAL_WIDTH", "_TYPER_FORCE_DISABLE_TERMINAL", "GITHUB_ACTIONS", "FORCE_COLOR", "PY_COLORS"),
}
# What a command imports, loaded once in the server. The test-only plugin (azsqlctl.testing) is left out. Besides
# every azsqlctl module and what azsqlctl imports inside its functions (found in its source: _lazy_imports), what the
# libraries themselves import on first use: without these a forked `sandbox run` or `grant` imported rich's console
# and emoji table, azure-mgmt-sql, dnspython's record types and sqlglot's SQLite dialect anew, each time (~5 s of the
# docs examples' ~20 s of CPU). Listed from what forked commands still imported (sys.modules at exit, minus the
# server's) across tests/e2e/test_docs.py.
_PRELOAD = ("azure.identity", "azure.core.pipeline.transport", "msal", "pyodbc", "requests", "cryptography.x509", "sqlglot",
            "azure.identity._credentials.app_service", "azure.identity._internal.msal_managed_identity_client",
            "azure.core.pipeline.transport._requests_basic", "azure.core.rest._requests_basic", "azure.core.tracing.decorator",
            "azure.core.polling.base_polling", "concurrent.futures.thread", "netrc", "_strptime", "fractions",
            "rich._emoji_codes", "typer._click.decorators", "sqlglot.dialects.sqlite", "sqlglot.dialects.tsql",
            "dns.rdtypes.IN.A", "dns.rdtypes.IN.AAAA", "dns.rdtypes.ANY.SOA", "dns.rdtypes.ANY.OPT", "dns.rdtypes.ANY.TSIG",
            "encodings.cp1252", "encodings.unicode_escape", "encodings.utf_16_le", "encodings.utf_8_sig")  # fmt: skip
# An import statement inside a function (`    from azure.mgmt.sql import SqlManagementClient`): its module.
_LAZY_IMPORT = re.compile(r"^[ \t]+(?:from[ \t]+([\w.]+)[ \t]+import[ \t]+\(?([\w, \t]*)|import[ \t]+([\w.]+))", re.M)


class Request(TypedDict):
    """What the stand-in (tests/cli_fork_client.py) sends: its open standard descriptors come with it."""

    fds: list[int]  # which of 0, 1, 2 are open (and sent, in this order)
    argv: list[str]
    env: dict[str, str]
    cwd: str
    umask: int
    ignored: list[int]  # signals it ignores
    blocked: list[int]  # its signal mask


def _start_up_view(env: Mapping[str, str]) -> dict[str, str]:
    names = _START_UP_NAMES.union(*(read for module, read in _READ_AT_IMPORT.items() if module in sys.modules))
    return {k: v for k, v in env.items() if (k.startswith(_START_UP_PREFIXES) and k != "PYTHONPATH") or k in names}


# --- the server -------------------------------------------------------------------------------------------------


def _preload(mode: Mode, modules: list[str]) -> None:
    import importlib

    for name in modules:
        importlib.import_module(name)
    if mode == SCRIPT:
        return
    import azsqlctl
    from azsqlctl.cli.app import COMMANDS, build_app

    package = Path(azsqlctl.__file__).parent
    lazy: list[str] = []
    for path in sorted(package.rglob("*.py")):
        parts = ("azsqlctl", *path.relative_to(package).with_suffix("").parts)
        if parts[1:2] in (("testing",), ("__main__",)):
            continue
        importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
        lazy += _lazy_imports(path.read_text(encoding="utf-8"))
    for name in _PRELOAD:
        importlib.import_module(name)
    for name in lazy:
        with contextlib.suppress(ImportError):  # an optional dependency (tomli before 3.11): absent for the command too
            importlib.import_module(name)
    for command in COMMANDS:
        build_app(command)  # Typer's command objects and their help texts' modules
    build_app(listing=True)


def _lazy_imports(source: str) -> list[str]:
    """The modules a module's functions import (not azsqlctl's own, already loaded): `from a.b import c` names a.b
    and a.b.c (c may be a submodule, as in `from cryptography.hazmat.primitives.asymmetric import rsa`)."""
    found = []
    for module, names, plain in _LAZY_IMPORT.findall(source):
        name = module or plain
        if name.startswith(".") or name.split(".")[0] == "azsqlctl":
            continue  # azsqlctl's own: all imported already
        found.append(name)
        imported = [n.split()[0] for n in names.split(",") if n.strip()]  # `c as d`: c
        found += [f"{name}.{n}" for n in imported if _is_submodule(name, n)]
    return found


def _is_submodule(package: str, name: str) -> bool:
    import importlib.util

    with contextlib.suppress(ImportError, ValueError):
        return importlib.util.find_spec(f"{package}.{name}") is not None
    return False


def serve(path: str, mode: Mode, modules: list[str], watch: int | None = None) -> None:
    """Preload, listen on ``path``, print "ready", then fork a command per connection and relay each one's end.

    It ends when the process it serves is gone: its parent (a pytest process), or with ``watch`` that process (the
    pytest-xdist controller, whose workers all use this server: ForkServer.start).

    The server forks each command itself and watches it (its pidfd) and its stand-in (the connection) in one loop:
    a monitor process per command, as before, was a second fork of this large process per command (~5 ms of CPU
    each, copying its page tables)."""
    _preload(mode, modules)
    gc.collect()
    gc.freeze()  # the preloaded heap stays out of every forked process's collections (and their copied pages)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    print("ready", flush=True)
    parent = os.getppid()

    def gone() -> bool:
        if watch is None:
            return os.getppid() != parent
        try:
            os.kill(watch, 0)
        except ProcessLookupError:
            return True
        return False

    running: dict[int, tuple[int, socket.socket]] = {}  # a running command's pidfd: its pid, its stand-in's connection
    while True:
        conns = {conn.fileno(): pidfd for pidfd, (_, conn) in running.items()}  # a stand-in's connection: its pidfd
        ready = select.select([listener.fileno(), *running, *conns], [], [], 1.0)[0]
        if not ready and gone():  # the pytest process is gone without stopping this server: so goes it
            shutil.rmtree(Path(path).parent, ignore_errors=True)
            os._exit(0)
        for fd in ready:
            if fd == listener.fileno():
                started = _start(listener, mode, [listener.fileno(), *running, *conns])
                if started:
                    pid, pidfd, conn = started
                    running[pidfd] = (pid, conn)
            elif fd in running:  # the command ended: its status to its stand-in
                _end(running.pop(fd), fd, killed=False)
            elif fd in conns and conns[fd] in running:
                pidfd = conns[fd]
                try:  # without waiting: the descriptor may be a new connection's, opened since select answered
                    if running[pidfd][1].recv(1, socket.MSG_DONTWAIT):
                        continue  # (the stand-in sends nothing more: ignored)
                except BlockingIOError:
                    continue
                except OSError:
                    pass
                _end(running.pop(pidfd), pidfd, killed=True)  # the stand-in is gone (killed): so goes the command


def _start(listener: socket.socket, mode: Mode, inherited: list[int]) -> tuple[int, int, socket.socket] | None:
    """Accept a stand-in, read its request and fork its command; None if the stand-in went away first."""
    conn, _ = listener.accept()
    try:
        conn.settimeout(10)  # the stand-in sends at once: one that stalls must not stall the server
        request, fds = _recv_request(conn)
        conn.settimeout(None)
    except (OSError, EOFError, ValueError, struct.error):
        conn.close()
        return None
    pid = os.fork()
    if pid == 0:
        for fd in (*inherited, conn.fileno()):  # the server's and other commands' descriptors are not this one's
            with contextlib.suppress(OSError):
                os.close(fd)
        _command(request, fds, mode)
    for fd in fds:
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    with contextlib.suppress(OSError):  # a stand-in gone already: its connection reads as closed next
        conn.sendall(struct.pack("!i", pid))
    return pid, pidfd, conn


def _end(command: tuple[int, socket.socket], pidfd: int, killed: bool) -> None:
    """Reap a command (killing it first if its stand-in is gone) and tell the stand-in how it ended."""
    pid, conn = command
    if killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if not killed:
        with contextlib.suppress(OSError):
            conn.sendall(struct.pack("!i", status))
    conn.close()
    os.close(pidfd)


def _recv_request(conn: socket.socket) -> tuple[Request, list[int]]:
    """The request and the stand-in's open standard descriptors (in the order its "fds" names them)."""
    fds = array.array("i")
    data, ancdata, _flags, _addr = conn.recvmsg(4, socket.CMSG_SPACE(3 * fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    (size,) = struct.unpack("!I", data)
    body = b""
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise EOFError("the stand-in went away mid-request")
        body += chunk
    return cast(Request, marshal.loads(body)), list(fds)  # noqa: S302 - from our stand-in: the socket is in a 0700 directory


def _command(request: Request, fds: list[int], mode: Mode) -> NoReturn:
    """In the forked process: become `python -m azsqlctl <argv>` (or `python <argv>` for SCRIPT) as the stand-in was
    asked to run it. Never returns."""
    argv, env, targets = request["argv"], request["env"], request["fds"]
    moved = [os.dup(fd) for fd in fds]  # out of 0-2 first: a received descriptor may itself be 0, 1 or 2
    for fd in fds:
        os.close(fd)
    for target in range(3):
        if target not in targets:
            with contextlib.suppress(OSError):
                os.close(target)  # closed in the stand-in: closed here
    for target, fd in zip(targets, moved, strict=True):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    os.setsid()  # out of the server's group: a signal for the command comes through its stand-in, once
    for signum in range(1, signal.NSIG):
        if signum in (signal.SIGKILL, signal.SIGSTOP) or signum in (signal.SIGPIPE, signal.SIGXFSZ):
            continue  # the interpreter ignores SIGPIPE and SIGXFSZ itself: the server's are those already
        with contextlib.suppress(OSError, ValueError):
            signal.signal(signum, signal.SIG_DFL)
    for signum in request["ignored"]:
        signal.signal(signum, signal.SIG_IGN)
    if signal.getsignal(signal.SIGINT) != signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the interpreter's own, unless ignored
    signal.pthread_sigmask(signal.SIG_SETMASK, request["blocked"])
    real = [sys.executable, *argv] if mode == SCRIPT else [sys.executable, "-m", "azsqlctl", *argv]
    if _start_up_view(env) != _start_up_view(os.environ) or (mode != SCRIPT and not _same_package(env)):
        os.execve(sys.executable, real, env)  # noqa: S606 - the real interpreter, no shell
    # sys.path as the interpreter builds it from the request: its PYTHONPATH's entries, not the server's, after
    # the first entry (the working directory for -m, the script's directory for a script)
    ours = _entries(os.environ.get("PYTHONPATH", ""))
    theirs = _entries(env.get("PYTHONPATH", ""))
    sys.path[:] = [sys.path[0], *theirs, *(p for p in sys.path[1:] if p not in ours and p not in theirs)]
    os.environ.clear()
    os.environ.update(env)
    tempfile.tempdir = None  # the server's, cached by a preloaded module: found again from the request's TMPDIR
    _reopen_standard_streams()
    code = 0
    try:
        if mode == SCRIPT:
            sys.argv = list(argv)
            sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
            runpy.run_path(argv[0], run_name="__main__")
        else:
            sys.argv = ["-m", *argv]
            runpy.run_module("azsqlctl", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except KeyboardInterrupt:
        _flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)  # the interpreter ends an unhandled Ctrl-C by the signal itself
    except BaseException:
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    if not _flush():
        code = 120  # the interpreter's code when flushing stdout at exit fails
    os._exit(code)


def _entries(pythonpath: str) -> list[str]:
    return [e for e in pythonpath.split(os.pathsep) if e]


def _same_package(env: Mapping[str, str]) -> bool:
    """The request's PYTHONPATH finds this azsqlctl (or none, and the installed one is this one)."""
    import azsqlctl

    here = Path(azsqlctl.__file__).resolve().parent
    for entry in _entries(env.get("PYTHONPATH", "")):
        candidate = Path(entry, "azsqlctl", "__init__.py")
        if candidate.exists():
            return candidate.resolve().parent == here
    return not any(Path(e, "azsqlctl", "__init__.py").exists() for e in _entries(os.environ.get("PYTHONPATH", "")))


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _reopen_standard_streams() -> None:
    """New text streams over descriptors 0-2, set up as the interpreter sets them up for what they now are."""
    stdout, stderr = sys.__stdout__, sys.__stderr__
    assert stdout is not None and stderr is not None
    encoding, errors = stdout.encoding, stdout.errors or "strict"  # the locale's, which the request shares (_START_UP_NAMES)

    def text(fd: int, mode: str, errors: str, line_buffering: bool) -> io.TextIOWrapper | None:
        if not is_open(fd):
            return None  # closed: the interpreter sets the stream to None
        raw = open(fd, mode, closefd=False)  # noqa: SIM115 - the stream lives as long as the process
        return io.TextIOWrapper(raw, encoding=encoding, errors=errors, line_buffering=line_buffering)

    streams = {"stdin": text(0, "rb", errors, False), "stdout": text(1, "wb", errors, os.isatty(1)),
               "stderr": text(2, "wb", stderr.errors or "backslashreplace", True)}  # fmt: skip
    for name, stream in streams.items():
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)  # the originals too, as at start-up (typeshed marks them final)


def _flush() -> bool:
    ok = True
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            ok = stream is not sys.stdout and ok
    return ok


# --- the tests' side ------------------------------------------------------------------------------------------


class ForkServer:
    """A server process and its stand-in script, for one pytest process: ``command`` runs `python -m azsqlctl`
    (mode AZSQLCTL) or, for SCRIPT, `python <script> ...` with ``preload`` imported once (what every run of that
    script imports before it reads its own settings).

    ``shared``: the pytest-xdist workers of one run share one server (its preload is ~1.1 s of CPU, which every
    worker paid): the first worker that needs it starts it (under a file lock, in a directory named for the run), the
    others find it there, and it ends when the run's controller process is gone. Each worker keeps its own stand-in
    scripts. A request is the same whichever worker sends it (the workers' environments differ in no start-up
    variable), so sharing changes no command's run."""

    def __init__(self, name: str, mode: Mode = "azsqlctl", preload: tuple[str, ...] = (), *, shared: bool = False) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._mode, self._preload, self._shared = mode, list(preload), shared
        self._started = False
        self._dir = Path(tempfile.gettempdir()) / f"azsqlctl-fork-{name}-{os.getpid()}"
        # Fixed per pytest process, so modules can name it at import (their CLI constants); it exists while the
        # server runs.
        self.command = [str(self._dir / name)]
        self.bin_dir = self._dir / "bin"  # holds `name` alone, for PATH: what a shell script's `name ...` runs
        self._name = name

    def start(self) -> None:
        if self._started:
            return
        self._dir.mkdir(mode=0o700, exist_ok=True)
        self.bin_dir.mkdir(exist_ok=True)
        run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "") if self._shared else ""
        # The run's id and its controller (a --testrunuid given twice names two runs): a server ends with its controller.
        run_dir = Path(tempfile.gettempdir()) / f"azsqlctl-fork-{self._name}-run-{run[:16]}-{os.getppid()}" if run else self._dir
        sock = run_dir / "socket"
        source = (ROOT / "tests" / "cli_fork_client.py").read_text(encoding="utf-8")
        script = f"#!{sys.executable} -IS\n{source}\nmain({str(sock)!r})\n"
        for path in (Path(self.command[0]), self.bin_dir / Path(self.command[0]).name):
            path.write_text(script, encoding="utf-8")
            path.chmod(0o755)
        if not run:
            sock.unlink(missing_ok=True)
            self._launch(sock, None)
            self._started = True
            return
        run_dir.mkdir(mode=0o700, exist_ok=True)
        with open(run_dir / "lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one worker at a time looks for the server and starts it
            if not _answers(sock):
                sock.unlink(missing_ok=True)
                self._launch(sock, os.getppid())  # an xdist worker's parent: the run's controller
                assert self._proc is not None
                _SHARED.append(self._proc)  # it outlives this worker: never collected (nor waited for) here
                self._proc = None
        self._started = True

    def _launch(self, sock: Path, watch: int | None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "AZSQLCTL_"))}
        code = f"from tests.cli_fork import serve; serve({str(sock)!r}, {self._mode!r}, {self._preload!r}, {watch!r})"
        self._proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      text=True)  # fmt: skip
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        self._proc.stdout.close()
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError(f"the fork server did not start (it said {line!r})")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None
        self._started = False
        shutil.rmtree(self._dir, ignore_errors=True)


_SHARED: list[subprocess.Popen[str]] = []  # shared servers this worker started: they end with the run


def _answers(sock: Path) -> bool:
    """Whether a server listens on ``sock`` (it takes the empty connection for a stand-in gone at once)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        try:
            conn.connect(str(sock))
        except OSError:
            return False
    return True


AZSQLCTL = ForkServer("azsqlctl", shared=True)
COMMAND = AZSQLCTL.command  # in place of [sys.executable, "-m", "azsqlctl"]
BIN_DIR = AZSQLCTL.bin_dir  # its `azsqlctl`, for a shell script's PATH
