"""A client of validate.js: Microsoft's Kusto language service (@kusto/language-service-next) in a node process.

Starting the service (node, its 16 MB of scripts, the schema, the JIT warming up on the first queries) costs
~2 s of CPU. The pytest-xdist workers of one run share one process: the first worker that needs it starts
``validate.js --listen`` on a Unix socket in the run's temporary root (under a file lock), the others connect
to it, and it ends when its last connection closes. The service keeps no state between queries (each is
parsed and analysed on its own against the same schema), so sharing it changes no result. A serial run
(no xdist) keeps a private process on stdin/stdout.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import socket
import subprocess
from pathlib import Path
from typing import IO, Any

from tests import npm_trees

HERE = Path(__file__).parent
_SOCKET_NAME = "kusto-validator.sock"
_MAX_SOCKET_PATH = 100  # sockaddr_un holds 108 bytes
_STARTED: list[subprocess.Popen[bytes]] = []  # shared processes this worker started: they end on their own


class Validator:
    def __init__(self, shared_dir: Path | None = None) -> None:
        """A private validate.js process, or with ``shared_dir`` (the same for every worker of a run) the shared one."""
        self._proc: subprocess.Popen[str] | None = None
        self._sock: socket.socket | None = None
        if shared_dir is not None and len(str(shared_dir / _SOCKET_NAME)) <= _MAX_SOCKET_PATH:
            self._sock = _shared(shared_dir)
            self._out: IO[str] = self._sock.makefile("w", encoding="utf-8", newline="\n")
            self._in: IO[str] = self._sock.makefile("r", encoding="utf-8", newline="\n")
        else:
            self._proc = subprocess.Popen(
                [npm_trees.node(), str(HERE / "validate.js")],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                cwd=HERE,
            )
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._out, self._in = self._proc.stdin, self._proc.stdout
        self.count = 0

    def check(self, queries: list[str], *, strings: bool = False) -> list[dict[str, Any]]:
        """Diagnostics of each query; with ``strings``, also its string literals as the service decodes them."""
        for i, q in enumerate(queries):
            self._out.write(json.dumps({"id": i, "query": q, "strings": strings}) + "\n")
        self._out.flush()
        out = [json.loads(self._in.readline()) for _ in queries]
        assert [o["id"] for o in out] == list(range(len(queries)))
        self.count += len(queries)
        return out

    def close(self) -> None:
        if self._sock is not None:
            self._out.close()
            self._in.close()
            self._sock.close()  # the shared process ends when the last worker's connection closes
        if self._proc is not None:
            self._out.close()
            self._proc.wait(timeout=30)


def _shared(directory: Path) -> socket.socket:
    """A connection to the run's shared validate.js, started here if no worker has started it (or it has ended)."""
    path = directory / _SOCKET_NAME
    with open(directory / "kusto-validator.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one worker at a time checks for the process and starts it
        sock = _connect(path)
        if sock is None:
            path.unlink(missing_ok=True)  # a process that ended (or is ending) leaves no one to answer there
            with open(directory / "kusto-validator.stderr", "ab") as stderr:
                proc = subprocess.Popen(
                    [npm_trees.node(), str(HERE / "validate.js"), "--listen", str(path)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    cwd=HERE,
                )
            assert proc.stdout is not None
            ready = proc.stdout.readline()
            proc.stdout.close()
            assert ready == b"ready\n", f"validate.js --listen did not start: see {directory / 'kusto-validator.stderr'}"
            _STARTED.append(proc)
            sock = _connect(path)
            assert sock is not None, "validate.js --listen does not answer"
        return sock


def _connect(path: Path) -> socket.socket | None:
    """A connection that has had an answer (a process that is closing accepts, then drops the connection), or None."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(60)
        sock.connect(str(path))
        sock.sendall(b'{"id": 0, "query": "print 1", "strings": false}\n')
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionResetError
            answer += chunk
        sock.settimeout(None)
        return sock
    except OSError:
        with contextlib.suppress(OSError):
            sock.close()
        return None
