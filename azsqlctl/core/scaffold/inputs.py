"""What ``azsqlctl scaffold`` is asked to generate: one frozen value, validated once."""

from __future__ import annotations

import keyword
import re
from dataclasses import asdict, dataclass
from enum import StrEnum

from azsqlctl.core.errors import UsageError

__all__ = ["Ci", "Driver", "ScaffoldInputs", "Style"]


class Driver(StrEnum):
    PYODBC = "pyodbc"
    MSSQL_PYTHON = "mssql-python"


class Style(StrEnum):
    PLAIN = "plain"
    SQLALCHEMY = "sqlalchemy"


class Ci(StrEnum):
    GITHUB = "github"
    AZURE_PIPELINES = "azure-pipelines"
    NONE = "none"


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SERVER = re.compile(r"[A-Za-z0-9.\-]+(,\d{1,5})?\Z")
_DATABASE = re.compile(r"[^\x00-\x1f'\"\[\];{}]{1,128}\Z")


@dataclass(frozen=True)
class ScaffoldInputs:
    package: str = "app.db"
    driver: Driver = Driver.PYODBC
    style: Style = Style.PLAIN
    use_async: bool = False
    ci: Ci = Ci.GITHUB
    server: str = ""  # default for AZSQL_SERVER in the generated settings ("" = must be set)
    database: str = ""

    def __post_init__(self) -> None:
        for name, kind in (("driver", Driver), ("style", Style), ("ci", Ci)):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, kind(value))
            except ValueError:
                choices = ", ".join(k.value for k in kind)
                raise UsageError(
                    f"{name} '{value}' is not one of {choices}", f"pass --{name} {choices.split(', ')[0]}", code=f"bad_{name}"
                ) from None
        parts = self.package.split(".")
        if not self.package or any(not _IDENT.match(p) or keyword.iskeyword(p) for p in parts):
            raise UsageError(
                f"package '{self.package}' is not a dotted Python module path",
                "pass --package like app.db (identifiers separated by dots)",
                code="bad_package",
            )
        if self.use_async and self.driver is Driver.MSSQL_PYTHON and self.style is Style.SQLALCHEMY:
            raise UsageError(
                "--async with --style sqlalchemy needs aioodbc (mssql+aioodbc), which runs on pyodbc",
                "use --driver pyodbc for an async SQLAlchemy engine, or drop --async (sync endpoints run in a thread pool)",
                code="bad_combination",
            )
        if self.server and not _SERVER.match(self.server):
            raise UsageError(
                f"server '{self.server}' is not a host name (optionally ,port)",
                "pass --server myserver.database.windows.net",
                code="bad_server",
            )
        if self.database and not _DATABASE.match(self.database):
            raise UsageError(f"database name '{self.database}' cannot be used", "pass --database with a plain name", code="bad_database")
        if bool(self.server) != bool(self.database):
            raise UsageError(
                "--server and --database go together",
                "pass both, or neither (then AZSQL_SERVER and AZSQL_DATABASE are required)",
                code="bad_target",
            )

    @property
    def package_dir(self) -> str:
        return self.package.replace(".", "/")

    @property
    def slug(self) -> str:
        return self.package.replace(".", "_")

    def as_dict(self) -> dict[str, str | bool]:
        data: dict[str, str | bool] = asdict(self)
        return {k: (v.value if isinstance(v, StrEnum) else v) for k, v in data.items()}

    @classmethod
    def combinations(cls, *, ci: Ci = Ci.GITHUB, server: str = "", database: str = "", package: str = "app.db") -> list[ScaffoldInputs]:
        """Every valid (driver, style, async) combination: the quality bar's matrix."""
        out = []
        for driver in Driver:
            for style in Style:
                for use_async in (False, True):
                    if use_async and driver is Driver.MSSQL_PYTHON and style is Style.SQLALCHEMY:
                        continue
                    out.append(cls(package, driver, style, use_async, ci, server, database))
        return out
