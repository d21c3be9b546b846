"""ODBC driver discovery: a registered Driver 18 (then 17) first, else the mssql-python-odbc library.

pyodbc is imported here, lazily: without unixODBC it cannot load, and --help must work anyway.
"""

from __future__ import annotations

import glob
import platform
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Literal

from azsqlctl.core.errors import DriverNotFound
from azsqlctl.core.ports import DriverInfo

DriverSource = Literal["pyodbc.drivers()", "--driver", "mssql-python-odbc"]
PREFERRED = ("ODBC Driver 18 for SQL Server", "ODBC Driver 17 for SQL Server")


@dataclass(frozen=True)
class Driver:
    spec: str  # a registered driver name or a library path
    source: DriverSource

    @property
    def major(self) -> int | None:
        m = re.search(r"(?:Driver |msodbcsql-?)(\d+)", self.spec)
        return int(m[1]) if m else None


def install_hint() -> str:
    system = platform.system()
    if system == "Darwin":
        return "brew install unixodbc msodbcsql18 (from the microsoft/mssql-release tap)"
    if system == "Windows":
        return "install 'ODBC Driver 18 for SQL Server' from Microsoft's download page"
    return "apt-get install libodbc2 msodbcsql18 (Microsoft's package repository), or pip install mssql-python-odbc"


def import_pyodbc() -> ModuleType:
    try:
        import pyodbc
    except ImportError as exc:
        raise DriverNotFound(
            f"pyodbc cannot load: {exc}",
            f"unixODBC is missing: {install_hint()}",
        ) from exc
    pyodbc.pooling = False  # pooling keys on the connection string, not the token: identities could mix
    module: ModuleType = pyodbc
    return module


def _bundled_driver() -> str | None:
    try:
        import mssql_python_odbc
    except ImportError:
        return None
    libs = Path(mssql_python_odbc.__file__).parent / "libs"
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower(), "")
    distro = "debian_ubuntu"
    os_release = Path("/etc/os-release")
    if os_release.exists():
        text = os_release.read_text(encoding="utf-8", errors="replace").lower()
        if re.search(r"^id(_like)?=.*(rhel|fedora|centos)", text, re.M):
            distro = "rhel"
        elif re.search(r"^id(_like)?=.*suse", text, re.M):
            distro = "suse"
        elif re.search(r"^id=.*alpine", text, re.M):
            distro = "alpine"
    for pattern in (f"linux/{distro}/{arch}/lib/libmsodbcsql-18.*.so.*", "**/libmsodbcsql-18.*.so.*"):
        found = sorted(glob.glob(str(libs / pattern), recursive=True))
        if found:
            return found[0]
    return None


def find_driver(requested: str = "") -> Driver:
    if requested:
        if "/" in requested or requested.endswith((".so", ".dylib", ".dll")) or ".so." in requested:
            if not Path(requested).is_file():
                raise DriverNotFound(
                    f"ODBC driver library '{requested}' does not exist", "pass an existing path or a registered driver name"
                )
            import_pyodbc()
            return Driver(requested, "--driver")
        pyodbc = import_pyodbc()
        if requested not in pyodbc.drivers():
            raise DriverNotFound(
                f"ODBC driver '{requested}' is not registered",
                f"registered drivers: {', '.join(pyodbc.drivers()) or 'none'}; {install_hint()}",
            )
        return Driver(requested, "--driver")
    pyodbc = import_pyodbc()
    registered = pyodbc.drivers()
    for name in PREFERRED:
        if name in registered:
            return Driver(name, "pyodbc.drivers()")
    bundled = _bundled_driver()
    if bundled:
        return Driver(bundled, "mssql-python-odbc")
    raise DriverNotFound("no Microsoft ODBC Driver for SQL Server found", install_hint())


def driver_info(driver: Driver) -> DriverInfo:
    m = re.search(r"msodbcsql-(\d+\.\d+)", driver.spec) or re.search(r"Driver (\d+(?:\.\d+)?)", driver.spec)
    return DriverInfo(driver.spec, driver.source, m[1] if m else "unknown")
