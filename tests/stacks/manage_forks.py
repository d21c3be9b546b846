"""A fork server for `python manage.py ...`: each command in a fresh child process, without paying the imports each time.

Run as a script (``python manage_forks.py``); reads one JSON request a line, ``{"argv": [...], "cwd": "...", "env": {...}}``,
and answers one JSON line, ``{"returncode": n, "stdout": "...", "stderr": "..."}``.

A `python manage.py <command>` here spends ~0.5 s of CPU importing Django, azure-identity and pyodbc before the
command runs. This process imports them once, before any settings exist (nothing here configures Django, opens an
ODBC environment or reads the project), then forks a child per command. The child takes the command's working
directory, environment and argv, and runs manage.py as `python manage.py` would (``runpy``, ``__main__``): its own
django.setup(), settings module, token, ODBC environment and connections, and its own exit code and output.
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import sys
import tempfile
import traceback

# Imported before any command: none reads Django's settings or touches ODBC at import time (mssql-django's backend
# does read settings when imported, so it is left to each command).
PRELOADED = (
    "django.core.management",
    "django.core.management.commands.migrate",
    "django.core.management.commands.makemigrations",
    "django.core.management.commands.showmigrations",
    "django.core.management.commands.shell",
    "django.db.models",
    "django.db.migrations.autodetector",
    "django.db.migrations.executor",
    "django.db.backends.base.base",
    "django.contrib.admin",
    "django.contrib.auth.hashers",
    "django.forms",
    "django.template",
    "azure.identity",
    "pyodbc",
)


def _child(request: dict[str, object], out: int, err: int) -> None:
    """Never returns: becomes the command, then exits with its code."""
    os.dup2(out, 1)
    os.dup2(err, 2)
    code = 1
    try:
        cwd, env, argv = str(request["cwd"]), request["env"], request["argv"]
        assert isinstance(env, dict) and isinstance(argv, list)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in env.items()})
        # what `python manage.py` puts on sys.path: the script's directory (in place of this one's), then
        # PYTHONPATH's entries (this process is started without PYTHONPATH), then the interpreter's own
        extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        sys.path[0:1] = [cwd, *extra]
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - the command's stdin for its whole life
        os.dup2(sys.stdin.fileno(), 0)  # never the requests' pipe
        sys.argv = [str(a) for a in argv]
        runpy.run_path(sys.argv[0], run_name="__main__")
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if exit_.code is not None and not isinstance(exit_.code, int):
            print(exit_.code, file=sys.stderr)
    except BaseException:  # what the interpreter does with an uncaught exception: traceback, exit 1
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _run(request: dict[str, object]) -> dict[str, object]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(request, out.fileno(), err.fileno())
        _, status = os.waitpid(pid, 0)
        out.seek(0)
        err.seek(0)
        return {
            "returncode": os.waitstatus_to_exitcode(status),
            "stdout": out.read().decode("utf-8", "replace"),
            "stderr": err.read().decode("utf-8", "replace"),
        }


def main() -> None:
    for name in PRELOADED:
        importlib.import_module(name)
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    for line in sys.stdin:
        if line.strip():
            answers.write(json.dumps(_run(json.loads(line))) + "\n")
            answers.flush()


if __name__ == "__main__":
    main()
