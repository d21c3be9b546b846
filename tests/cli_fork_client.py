"""The `azsqlctl` a test's shell or subprocess runs when tests/cli_fork.py's server is up: a stand-in for
`python -m azsqlctl` that asks the server for a process instead of starting an interpreter.

tests/cli_fork.py writes this file's source, with a `main(<socket>)` call appended, as an executable script run by
``python -I -S`` (no site, no user paths: ~10 ms to start). It hands the server its arguments, environment, working
directory, umask, ignored signals and its own stdin/stdout/stderr (the descriptors themselves, SCM_RIGHTS); the
server's process runs `python -m azsqlctl` on them. This process stays as its stand-in: signals it gets are passed
on, and it ends as that process ended (its exit code, or the same signal). If this process is killed, the
server kills the command (a killed `python -m azsqlctl` would be gone too).

Only the interpreter's built-in modules (marshal, _socket, _signal; no json, socket, signal, struct, array,
contextlib): it runs before any path to the project exists, once per command, and those imports (enum, re,
selectors, collections) took ~15 ms of its ~28 ms of CPU.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal without its enums (typeshed has no stub): ~4 ms less
import _socket
import marshal
import os
import sys

# Signals a shell, `timeout`, or `sandbox run` may send a command: passed on unless this process ignores them (a
# background job in a non-interactive shell ignores SIGINT and SIGQUIT: so does the command).
FORWARDED: tuple[int, ...] = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT, _signal.SIGUSR1,
                              _signal.SIGUSR2, _signal.SIGALRM)  # fmt: skip
_pending: list[int] = []
_target: list[int] = []


def _pass_on(signum: int, _frame: object) -> None:
    if not _target:
        _pending.append(signum)  # before the command's pid is known: sent as soon as it is
        return
    try:  # noqa: SIM105 - contextlib would cost this process an import
        os.kill(_target[0], signum)
    except ProcessLookupError:  # it has just ended: its status is on the way
        pass


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _recv_exact(conn: _socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            sys.stderr.write("azsqlctl (tests/cli_fork): the fork server closed the connection\n")
            os._exit(70)
        data += chunk
    return data


def main(path: str) -> None:
    ignored = [s for s in FORWARDED if _signal.getsignal(s) == _signal.SIG_IGN]
    for s in FORWARDED:
        if s not in ignored:
            _signal.signal(s, _pass_on)
    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError as exc:
        sys.stderr.write(f"azsqlctl (tests/cli_fork): no fork server at {path} ({exc}): use the cli_fork fixture\n")
        os._exit(127)
    umask = os.umask(0o022)
    os.umask(umask)
    open_fds = [fd for fd in (0, 1, 2) if is_open(fd)]  # one closed here is closed in the command too
    request = {
        "fds": open_fds,
        "argv": sys.argv[1:],
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "umask": umask,
        "ignored": ignored,
        "blocked": sorted(int(s) for s in _signal.pthread_sigmask(_signal.SIG_BLOCK, [])),
    }
    body = marshal.dumps(request)
    rights = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in open_fds)  # C ints, as SCM_RIGHTS takes them
    conn.sendmsg([len(body).to_bytes(4, "big"), body], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
    pid = int.from_bytes(_recv_exact(conn, 4), "big", signed=True)
    _target.append(pid)
    for signum in _pending:
        _pass_on(signum, None)
    status = int.from_bytes(_recv_exact(conn, 4), "big", signed=True)
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        for s in FORWARDED:
            _signal.signal(s, _signal.SIG_DFL)
        _signal.signal(signum, _signal.SIG_DFL)
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, [signum])
        os.kill(os.getpid(), signum)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)
