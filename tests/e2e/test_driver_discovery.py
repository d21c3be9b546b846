"""Driver discovery: a registered 'ODBC Driver 18 for SQL Server' wins over the bundled one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from azsqlctl.sandbox.serve import Sandbox
from tests.conftest import driver_path


def test_registered_driver_is_found_by_name_and_logs_in(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    # What Microsoft's msodbcsql18 package writes, pointed at the PyPI-shipped library.
    inst = tmp_path / "odbcinst"
    inst.mkdir()
    (inst / "odbcinst.ini").write_text(
        f"[ODBC Driver 18 for SQL Server]\nDescription=Microsoft ODBC Driver 18 for SQL Server\nDriver={driver_path()}\nUsageCount=1\n"
    )
    (inst / "odbc.ini").write_text("")
    env = {**os.environ, "ODBCSYSINI": str(inst)}
    probe = "from azsqlctl.azure.driver import find_driver; d = find_driver(); print(d.spec + '|' + d.source)"
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env=env)
    assert found.stdout.strip() == "ODBC Driver 18 for SQL Server|pyodbc.drivers()", found.stderr

    login = subprocess.run(
        [sys.executable, "-m", "azsqlctl", "whoami", "-o", "json", "--debug"], capture_output=True, text=True, timeout=60, env=env
    )
    assert login.returncode == 0, login.stderr
    assert json.loads(login.stdout)["data"]["user_name"] == "dbo"
    assert "connecting: driver ODBC Driver 18 for SQL Server (pyodbc.drivers())" in login.stderr


def test_without_a_registered_driver_the_bundled_one_is_used(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "odbcinst.ini").write_text("")
    probe = "from azsqlctl.azure.driver import find_driver; d = find_driver(); print(d.spec + '|' + d.source)"
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env={**os.environ, "ODBCSYSINI": str(empty)}
    )
    spec, source = found.stdout.strip().split("|")
    assert source == "mssql-python-odbc"
    assert Path(spec).name.startswith("libmsodbcsql-18.")
