"""What ``azsqlctl scaffold`` accepts (core/scaffold/inputs.py): every refusal with its code, and the matrix."""

from __future__ import annotations

import pytest

from azsqlctl.core.errors import UsageError
from azsqlctl.core.scaffold.inputs import Ci, Driver, ScaffoldInputs, Style


def refused(**kw: object) -> UsageError:
    with pytest.raises(UsageError) as info:
        ScaffoldInputs(**kw)  # type: ignore[arg-type]
    return info.value


def test_defaults_and_derived_names() -> None:
    inputs = ScaffoldInputs(package="svc.data.db")
    assert (inputs.driver, inputs.style, inputs.use_async, inputs.ci) == (Driver.PYODBC, Style.PLAIN, False, Ci.GITHUB)
    assert inputs.package_dir == "svc/data/db" and inputs.slug == "svc_data_db"
    assert inputs.as_dict() == {
        "package": "svc.data.db", "driver": "pyodbc", "style": "plain", "use_async": False, "ci": "github",
        "server": "", "database": "",
    }  # fmt: skip


def test_choices_given_as_text_become_the_enums() -> None:
    inputs = ScaffoldInputs(driver="mssql-python", style="sqlalchemy", ci="none")  # type: ignore[arg-type]
    assert inputs.driver is Driver.MSSQL_PYTHON and inputs.style is Style.SQLALCHEMY and inputs.ci is Ci.NONE


@pytest.mark.parametrize(
    ("field", "value", "message", "hint"),
    [
        ("driver", "odbc", "driver 'odbc' is not one of pyodbc, mssql-python", "pass --driver pyodbc"),
        ("style", "orm", "style 'orm' is not one of plain, sqlalchemy", "pass --style plain"),
        ("ci", "jenkins", "ci 'jenkins' is not one of github, azure-pipelines, none", "pass --ci github"),
    ],
)
def test_an_unknown_choice_names_the_choices(field: str, value: str, message: str, hint: str) -> None:
    error = refused(**{field: value})
    assert (error.message, error.hint, error.code) == (message, hint, f"bad_{field}")


@pytest.mark.parametrize("package", ["", "app.", ".db", "app-db", "1app", "app.class", "app db", "app.db\n"])
def test_a_package_must_be_a_dotted_module_path(package: str) -> None:
    error = refused(package=package)
    assert error.message == f"package '{package}' is not a dotted Python module path"
    assert error.code == "bad_package"


@pytest.mark.parametrize("package", ["app", "_x.y_2", "A.B.C"])
def test_good_packages(package: str) -> None:
    assert ScaffoldInputs(package=package).package == package


def test_async_sqlalchemy_needs_pyodbc() -> None:
    error = refused(driver=Driver.MSSQL_PYTHON, style=Style.SQLALCHEMY, use_async=True)
    assert error.code == "bad_combination" and "aioodbc" in error.message
    for ok in (
        ScaffoldInputs(driver=Driver.PYODBC, style=Style.SQLALCHEMY, use_async=True),
        ScaffoldInputs(driver=Driver.MSSQL_PYTHON, style=Style.PLAIN, use_async=True),
        ScaffoldInputs(driver=Driver.MSSQL_PYTHON, style=Style.SQLALCHEMY, use_async=False),
    ):
        assert ok.package == "app.db"


def test_server_and_database_defaults() -> None:
    ok = ScaffoldInputs(server="srv.database.windows.net,1433", database="app db-1")
    assert (ok.server, ok.database) == ("srv.database.windows.net,1433", "app db-1")
    assert ScaffoldInputs(server="srv", database="d" * 128).database == "d" * 128
    bad_server = refused(server="srv;drop", database="db")
    assert (bad_server.message, bad_server.code) == ("server 'srv;drop' is not a host name (optionally ,port)", "bad_server")
    assert refused(server="srv,123456", database="db").code == "bad_server"
    for database in ("d" * 129, "a'b", "a]b", "a\x01b", "a;b"):
        error = refused(server="srv", database=database)
        assert (error.message, error.code) == (f"database name '{database}' cannot be used", "bad_database")
    for alone in ({"server": "srv"}, {"database": "db"}):
        error = refused(**alone)
        assert (error.message, error.code) == ("--server and --database go together", "bad_target")


def test_combinations_are_every_valid_driver_style_async() -> None:
    combos = ScaffoldInputs.combinations(ci=Ci.NONE, server="srv", database="db", package="x.y")
    assert [(c.driver, c.style, c.use_async) for c in combos] == [
        (Driver.PYODBC, Style.PLAIN, False),
        (Driver.PYODBC, Style.PLAIN, True),
        (Driver.PYODBC, Style.SQLALCHEMY, False),
        (Driver.PYODBC, Style.SQLALCHEMY, True),
        (Driver.MSSQL_PYTHON, Style.PLAIN, False),
        (Driver.MSSQL_PYTHON, Style.PLAIN, True),
        (Driver.MSSQL_PYTHON, Style.SQLALCHEMY, False),
    ]
    assert {(c.ci, c.server, c.database, c.package) for c in combos} == {(Ci.NONE, "srv", "db", "x.y")}
    assert len(ScaffoldInputs.combinations()) == 7


def test_every_refusal_says_what_to_pass() -> None:
    assert refused(package="1x").hint == "pass --package like app.db (identifiers separated by dots)"
    combo = refused(driver=Driver.MSSQL_PYTHON, style=Style.SQLALCHEMY, use_async=True)
    assert combo.message == "--async with --style sqlalchemy needs aioodbc (mssql+aioodbc), which runs on pyodbc"
    assert combo.hint == "use --driver pyodbc for an async SQLAlchemy engine, or drop --async (sync endpoints run in a thread pool)"
    assert refused(server="a b", database="db").hint == "pass --server myserver.database.windows.net"
    assert refused(server="srv", database="a;b").hint == "pass --database with a plain name"
    assert refused(server="srv").hint == "pass both, or neither (then AZSQL_SERVER and AZSQL_DATABASE are required)"
    assert {c.package for c in ScaffoldInputs.combinations()} == {"app.db"}
