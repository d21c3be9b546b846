"""Fixtures shared by all tests: an in-process sandbox and a client environment pointing at it."""

from __future__ import annotations

import fcntl
import fnmatch
import glob
import os
import signal
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Bytecode caches on, for this run and the CLI processes it starts, whatever PYTHONDONTWRITEBYTECODE says (CI
# images set it): without them every `python -m azsqlctl` a test starts compiles the package again (~0.26 s of
# CPU each, hundreds of processes) and pytest recompiles its rewritten test modules per worker (~4 s).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

import pytest  # noqa: E402 - (pytest itself is already loaded; azsqlctl, imported next, is cached from here on)

# A shell's background job (`cmd &`, nohup, some CI runners) starts pytest with SIGINT ignored, and every process a
# test starts would inherit that: the tests that interrupt CLI processes as a terminal's Ctrl-C does would see the
# signal ignored (azsqlctl rightly keeps an inherited SIG_IGN until its own handler is set). Python's own handler
# here is reset to the default in every child at exec, as under a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

from tests import property_budget  # noqa: E402

if TYPE_CHECKING:
    from azsqlctl.sandbox.serve import Sandbox

# pytest-xdist's workers get COLUMNS=80 and LINES=24 (execnet's view of a terminal): the CLI processes tests start
# would then render at 80 columns, not at the width a serial run (and the README's captured output) has.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)


def _cache_typer_commands() -> None:
    """typer.testing.CliRunner.invoke turns the Typer app into its Click command on every call: ~20 ms of
    annotation resolving for azsqlctl's full app, ~480 times in the quick loop (~10 s CPU). The Click command is
    built from static declarations and holds no per-run state (each run gets a new Context), so one per app
    serves every invocation; an app built anew (tests/unit/test_shared_options) is a new key."""
    import weakref

    import typer.main
    import typer.testing
    from typer._click import Command  # Typer 0.28 vendors Click

    if getattr(typer.testing, "_get_command", None) is not typer.main.get_command:
        raise RuntimeError("typer.testing no longer calls typer.main.get_command as _get_command: update tests/conftest.py")
    built: weakref.WeakKeyDictionary[typer.Typer, Command] = weakref.WeakKeyDictionary()

    def get_command(typer_instance: typer.Typer) -> Command:
        if typer_instance not in built:
            built[typer_instance] = typer.main.get_command(typer_instance)
        return built[typer_instance]

    typer.testing._get_command = get_command  # type: ignore[attr-defined]  # a private name: checked above


_cache_typer_commands()

# Variables from the machine that would steer azure-identity or the CLI away from the sandbox.
_FOREIGN = ("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "AZSQLCTL_")


@pytest.fixture(scope="session")
def material_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CA, server certificate and signing keys, generated once per test run (RSA keygen is slow: six 2048-bit keys,
    ~0.1-0.3 s of CPU each). Under pytest-xdist the workers share one directory in the run's base temporary directory:
    the first to get there makes it, the others wait for it (the sandbox is built for sandboxes sharing a material
    directory: it rewrites only its CA bundle, atomically). Run serially, the session makes its own."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        run = tmp_path_factory.getbasetemp().parent  # each worker's base is <the run's>/popen-gwN
        material = run / "sandbox-material"
        with open(run / "sandbox-material.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if not (material / "complete").exists():
                material.mkdir(mode=0o700, exist_ok=True)
                _make_material(material)
                (material / "complete").touch()
        return material
    material = tmp_path_factory.mktemp("sandbox-material")
    os.chmod(material, 0o700)
    _make_material(material)
    return material


def _make_material(material: Path) -> None:
    from azsqlctl.sandbox.certs import ensure_certificates
    from azsqlctl.sandbox.entra.federation import ISSUER_URLS, Federation
    from azsqlctl.sandbox.entra.tokens import Issuer

    Issuer.load_or_create(material / "signing-key.pem")
    federation = Federation.load_or_create(material)
    for kind in ISSUER_URLS:  # its keys are created on first use: create them all here, once
        federation.signer(kind)
    ensure_certificates(material, "sandbox")


@pytest.fixture(autouse=True)
def _shared_key_material(request: pytest.FixtureRequest) -> None:
    """A sandbox started with `--state <tmp_path>/<file>` (in this process or as a `sandbox run|serve` child) keeps its
    keys in `<tmp_path>/.azsqlctl-sandbox`. In modules marked `sandbox_keys` that directory is seeded with this
    session's keys, as a second run over the same state finds them, so their CLI sandboxes do not each generate six
    RSA keys (~0.3 s of CPU). Tests about how the sandbox creates that directory opt out with `fresh_material`."""
    if not request.node.get_closest_marker("sandbox_keys") or request.node.get_closest_marker("fresh_material"):
        return
    if "tmp_path" not in request.fixturenames:
        return
    seed_keys(request.getfixturevalue("material_dir"), request.getfixturevalue("tmp_path") / ".azsqlctl-sandbox")


def seed_keys(material: Path, target: Path) -> None:
    """``target`` (a state's key directory, not yet there) gets the session's CA, certificate and signing keys."""
    target.mkdir(mode=0o700, parents=True)
    for item in material.iterdir():
        if item.suffix in (".pem", ".key") and item.name != "ca-bundle.pem":
            (target / item.name).write_bytes(item.read_bytes())
            os.chmod(target / item.name, item.stat().st_mode & 0o777)


@pytest.fixture(scope="session")
def cli_fork() -> Iterator[None]:
    """tests/cli_fork.py's server for this worker: `cli_fork.COMMAND` and `cli_fork.BIN_DIR`'s `azsqlctl` run
    `python -m azsqlctl` without an interpreter start each. Modules that run the CLI as a process many times use it
    (`pytestmark = pytest.mark.usefixtures("cli_fork")`); it starts on first use and stops with the session."""
    from tests.cli_fork import AZSQLCTL

    AZSQLCTL.start()
    yield
    AZSQLCTL.stop()


@pytest.fixture
def sandbox(tmp_path: Path, material_dir: Path) -> Iterator[Sandbox]:
    # Imported here, not at the top: the xdist controller loads this file too, and starts its workers only after
    # (~0.2 s of imports it never uses); each worker's collection imports it anyway.
    from azsqlctl.sandbox.serve import Sandbox

    with Sandbox(tmp_path / "state.json", material_dir=material_dir) as sb:
        yield sb


@pytest.fixture
def client_env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The process environment a client of the sandbox has: exactly what `sandbox serve` prints."""
    for key in list(os.environ):
        if key.startswith(_FOREIGN):
            monkeypatch.delenv(key)
    for key, value in sandbox.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # no stray azsqlctl.toml from the repository
    return sandbox.env


def driver_path() -> str:
    import mssql_python_odbc

    libs = Path(mssql_python_odbc.__file__).parent / "libs"
    found = sorted(glob.glob(str(libs / "linux" / "debian_ubuntu" / "*" / "lib" / "libmsodbcsql-18.*.so.*")))
    found = found or sorted(glob.glob(str(libs / "**" / "libmsodbcsql-18.*.so.*"), recursive=True))
    assert found, "mssql-python-odbc has no driver library"
    return found[0]


def token_struct(token: str) -> bytes:
    data = token.encode("utf-16-le")
    return struct.pack("<I", len(data)) + data


def raw_connect(
    sandbox: Sandbox, token: str | None, database: str = "appdb", extra: str = "", timeout: int = 10, struct_bytes: bytes | None = None
) -> Any:
    """pyodbc straight to the sandbox, the way users' own code connects."""
    import pyodbc

    pyodbc.pooling = False
    conn_str = f"DRIVER={{{driver_path()}}};SERVER=tcp:localhost,{sandbox.tds_port};DATABASE={database};Encrypt=yes;{extra}"
    attrs = {}
    if struct_bytes is not None:
        attrs = {1256: struct_bytes}
    elif token is not None:
        attrs = {1256: token_struct(token)}
    return pyodbc.connect(conn_str, attrs_before=attrs, timeout=timeout)


# CI explores the same examples every run, so a green local run means a green CI run;
# local runs keep hypothesis's randomness to find new cases. Neither has hypothesis's 200 ms per-example
# deadline: it is a timed assertion (timing lives in bench/), and on a busy two-core machine an example's first
# run (imports, a cold cache) passed it by 100 ms and failed tests/unit/test_sandbox_state as "unreliable".
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_PROFILE = "ci" if os.environ.get("CI") else "local"
_hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
_hypothesis_settings.register_profile("local", deadline=None)
_hypothesis_settings.load_profile(_PROFILE)


def pytest_configure(config: pytest.Config) -> None:
    """The quick loop runs property tests on smaller budgets (tests/property_budget.py says why). Set here, before
    collection imports any test module, whose `@settings(max_examples=examples(n))` read it."""
    if _quick(config):
        property_budget.QUICK = True
        quick = _hypothesis_settings(_hypothesis_settings.get_profile(_PROFILE), max_examples=property_budget.examples(100))
        _hypothesis_settings.register_profile(f"{_PROFILE}-quick", quick)
        _hypothesis_settings.load_profile(f"{_PROFILE}-quick")


# Whole folders of heavy checks (issue 19's layers): the third-party clients and ORM stacks, and Microsoft's
# Kusto language service over the query shapes, each driving node or a driver per test, and tests/tools (the
# mutation runner forking a pytest per mutant). They run with the rest
# (the README's test command runs everything); `-m "not slow"` leaves them out of the quick loop.
_SLOW_FOLDERS = ("clients", "stacks", "kusto", "tools")


# Single tests that are long by nature (a property run of hundreds of examples, a fuzz over many CLI processes, a
# repeated race, a timeout or back-off waited out on the real clock, a node client): each with the one-line reason it
# cannot be quick. Keyed by file, by node id without parameters (every parametrization), or by a whole node id (that
# one case). Listed here rather than decorated so the quick loop's shape reads in one place; the whole suite still
# runs them.
_SLOW_TESTS: dict[str, str] = {
    "e2e/test_docs.py": "every README and docs example as a shell script against its own `sandbox run` process (docs layer)",
    "e2e/test_entra_cli.py": "each test is a CI job's whole flow: several CLI processes and `sandbox run --as` children (~1 s CPU each)",
    "e2e/test_entra_pipelines.py::test_generated_pipeline_runs_against_the_sandbox": "the generated pipeline's steps as shell processes under `sandbox run` (~4 s CPU)",
    "e2e/test_sandbox_cli.py::test_reset_brings_back_a_default_sandbox_the_readme_entra_admin_example_broke": "replays a README example through several `sandbox run` processes (~5 s CPU)",
    "e2e/test_scaffold.py::test_mypy_strict_passes_on_every_combination": "mypy --strict over every generated project (tools layer, ~8 s CPU)",
    "e2e/test_scaffold.py::test_generated_tests_pass_against_the_sandbox": "the generated project's own pytest in a child process against a sandbox (~5 s CPU)",
    "e2e/test_scaffold.py::test_generated_workflow_passes_actionlint_and_zizmor": "actionlint and zizmor over the generated workflow (tools layer)",
    "e2e/test_scaffold.py::test_actionlint_reports_a_broken_workflow": "actionlint over a broken workflow (tools layer)",
    "e2e/test_scaffold_plugin.py::test_plugin_loads_in_a_foreign_project_through_its_entry_point": "a child pytest in a foreign project that finds the plugin by its entry point",
    "e2e/test_entra_workflow.py::test_generated_workflow_runs_against_the_sandbox": "the generated workflow's steps as shell processes under `sandbox run` (~4 s CPU)",
    "e2e/test_fuzz_cli.py::test_no_input_ends_in_exit_70_or_a_traceback": "a property run over whole CLI invocations (~3 s CPU, 16 s on a busy machine)",
    "e2e/test_fuzz_cli.py::test_an_unreachable_endpoint_is_named_with_the_readmes_code_within_the_timeout": "waits out a dead or stalled endpoint's whole timeout",
    "e2e/test_signals.py": "process groups signalled at chosen instants (real interpreters for the first instants), waiting for each to end (grace periods, a policy run cut mid-way)",
    "e2e/test_cli_fork.py": "the test harness's own checks: forked runs held to real interpreters' output, signals and exit codes",
    "e2e/test_tds_protocol.py::test_tedious_reset_rolls_back_and_msi_logs_in_through_fedauthinfo": "node and tedious per case (clients layer)",
    # Process-level: what a separate interpreter does at start-up or as a process is the point, so each starts real
    # interpreters (0.3-0.8 s of CPU each); everything they drive is also checked in-process or forked in the quick loop.
    "e2e/test_cli.py::test_help_needs_neither_pyodbc_nor_azure": "fresh interpreters with pyodbc and the Azure SDKs blocked at import",
    "e2e/test_cli.py::test_no_unixodbc_gives_a_one_line_error_with_install_hint": "a fresh interpreter without unixODBC",
    "e2e/test_logs_cli.py::test_help_and_show_query_import_no_sdk": "fresh interpreters with the Azure SDKs blocked at import",
    "e2e/test_help.py::test_in_process_help_is_the_processs": "each command's help from a real `python -m azsqlctl` process",
    "e2e/test_help.py::test_root_help_ends_with_the_first_command_to_run": "the root help from a real `python -m azsqlctl` process",
    "e2e/test_doctor_process.py": "a real doctor process under -X importtime: what it imports, and its output across the fast exit",
    "e2e/test_sandbox_serve_cpu.py": "a real `sandbox serve` process: its threads' CPU affinity",
    "e2e/test_logs_endpoint.py::test_sandbox_serve_prints_the_workspace_and_takes_logs_options": "a real `sandbox serve` process",
    "e2e/test_driver_discovery.py": "fresh interpreters finding the driver by name through an odbcinst.ini",
    "e2e/test_sandbox_files.py::test_keys_state_and_audit_are_private_from_creation_under_umask_0": "a fresh interpreter under umask 0, its file creations audited",
    "e2e/test_sandbox_cli.py::test_a_signal_to_sandbox_run_reaches_its_child_and_leaves_none_behind": "a real `sandbox run` process group, signalled",
    "e2e/test_sandbox_cli.py::test_ctrl_c_at_a_terminal_reaches_the_child_once": "a real `sandbox run` on a pty: Ctrl-C to its process group",
    "e2e/test_sandbox_cli.py::test_changes_persist_between_runs": "two `sandbox run`s, each with a Python client process importing the Azure SDKs",
    # Waits on the real clock: the behaviour is a timeout or a back-off, so the test lasts at least that long.
    "e2e/test_scaffold_e2e.py::test_failed_refresh_keeps_serving_the_valid_token_then_retries": "azure-core's retry backs off ~4.5 s on the injected 500s",
    "e2e/test_scaffold_e2e.py::test_health_times_out_with_503_when_select_1_hangs": "waits out the health route's 2 s query timeout",
    "e2e/test_entra_odbc.py::test_odbc_service_principal_refusal_is_a_login_timeout_and_doctor_asks_entra": "waits out the driver's 4 s login timeout, then a doctor process",
    "e2e/test_logs_follow.py::test_follow_every_row_once_in_event_time_order": "a `logs --follow` process through ingestion delays, a Retry-After and a 500 (~4 s)",
    "e2e/test_grant.py::test_fleet_of_five_one_unexpected_error_one_transient": "grant's back-off between two retries of a transient 40613 (~3 s)",
    "e2e/test_grant.py::test_policy_across_three_databases_one_failing": "grant's back-off before retrying a transient 40613 (~1 s)",
    "e2e/test_grant_fleet.py::test_a_fleet_of_servers_pages_globs_inherit_server_tags_and_survive_throttling": "waits out Resource Graph's Retry-After: 1",
    "e2e/test_entra_authority.py::test_throttle_fault_answers_429_with_retry_after": "waits out Entra's Retry-After: 1",
    "e2e/test_identity_endpoint.py::test_short_lifetime_tokens_are_refreshed": "sleeps past a short token lifetime",
    "e2e/test_diagnosed_connect.py::test_a_probe_that_only_timed_out_lets_the_connect_decide": "waits out a 1 s probe timeout against logins stalled 1.5 s",
    "e2e/test_doctor.py::test_login_timeout_hyt00": "waits out the driver's login timeout",
    "e2e/test_login_failures.py::test_stall_gives_login_timeout": "waits out the driver's login timeout",
    "e2e/test_login_failures.py::test_connection_refused_when_nothing_listens": "the driver retries a refused address until its 1 s login timeout",
    "e2e/test_fuzz_cli.py::test_an_unreachable_sql_server_is_named_within_the_timeout[stalled]": "waits out a stalled server's timeout",
    "e2e/test_fuzz_cli.py::test_an_unreachable_dns_server_is_named_within_the_timeout[stalled]": "waits out a stalled DNS server's timeout",
    "e2e/test_protocol_fuzz.py::test_a_client_that_stops_reading_is_closed_at_the_send_timeout": "waits out the send timeout",
    "e2e/test_protocol_fuzz.py::test_clients_that_vanish_or_crawl_are_closed_quietly": "waits out header and idle timeouts",
    "e2e/test_sql_locks.py::test_a_deadlock_ends_one_victim_with_1205": "two sessions block each other until the deadlock is found (~2 s)",
    "e2e/test_surfaces.py::test_surfaces_stop_in_parallel": "surfaces that each take a second to stop",
}


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The quick loop (`-m "not slow"`) does not import the slow folders at all: every test in them is slow, so none
    would be selected, and each xdist worker would still import their modules (~1 s of CPU each) to find that out."""
    if config.getoption("markexpr", "") == "not slow" and collection_path.parent == Path(__file__).resolve().parent:
        return collection_path.name in _SLOW_FOLDERS or None
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    """An xdist worker on a fresh checkout rewrites its share of the run's test modules' asserts before collecting.

    pytest rewrites a test module's asserts when it is imported and caches the result beside it (a
    ``__pycache__/<name>.<tag>-pytest-<version>.pyc``). On a fresh checkout the workers collect the same modules in
    the same order, so each found no cache and rewrote all ~170 of them: ~4.4 s of CPU each, ~22 s for five workers
    on two cores. Each worker now starts at its own share of the list and goes round, skipping a module whose cached
    file exists (another worker wrote it; pytest itself redoes a stale one on import), with pytest's own rewriter and
    writer (atomic: workers may race for a file). A warm run only checks that the files exist. Under a pytest without
    these functions, or with --assert=plain, the workers rewrite on import as before."""
    worker = getattr(session.config, "workerinput", None)
    if worker is None:
        return
    try:
        from _pytest.assertion.rewrite import (
            PYC_TAIL,
            AssertionRewritingHook,
            _rewrite_test,
            _write_pyc,
            assertstate_key,
            get_cache_dir,
        )
    except ImportError:
        return
    if sys.dont_write_bytecode or not any(isinstance(finder, AssertionRewritingHook) for finder in sys.meta_path):
        return
    patterns = [str(p) for p in session.config.getini("python_files")]
    sources: list[Path] = []
    for arg in session.config.args:  # what this run collects (testpaths, or the paths and node ids given): no more
        root = Path(session.config.invocation_params.dir, arg.split("::", 1)[0]).resolve()
        walked = [(str(root.parent), [], [root.name])] if root.is_file() else os.walk(root)
        for folder, dirs, files in walked:
            dirs[:] = sorted(d for d in dirs if d not in ("node_modules", "__pycache__"))
            sources += [Path(folder, f) for f in sorted(files) if f == "conftest.py" or any(fnmatch.fnmatch(f, p) for p in patterns)]
    sources = list(dict.fromkeys(sources))
    start = len(sources) * int(str(worker["workerid"]).removeprefix("gw")) // max(1, int(worker["workercount"]))
    state = session.config.stash[assertstate_key]
    for source in sources[start:] + sources[:start]:
        pyc = get_cache_dir(source) / (source.name[:-3] + PYC_TAIL)
        if pyc.exists():
            continue
        try:
            source_hash, code = _rewrite_test(source, session.config)
        except (SyntaxError, ValueError):  # that module's collection error, reported when it is imported
            continue
        pyc.parent.mkdir(exist_ok=True)
        _write_pyc(state, code, source_hash, pyc)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (pyproject's addopts): one worker more than the machine has CPUs for the quick loop, three more for the
    whole suite. Many tests wait (subprocesses, sockets, node) while the rest are CPU-bound, and most of what the whole
    suite adds waits on the real clock (login timeouts, stalled endpoints, back-offs, `logs --follow`) or on processes
    starting: a worker that waits leaves its CPU to the others. The workers share one fork server and one Kusto
    service, so another worker costs little CPU. On the 2-core machine, alternating (docs/performance.md): the whole
    suite took 99.6/103.9 s with 3 workers, 91.6/90.5 s with 4 and 82.1/84.7 s with 5, all at 151-163 s of CPU; the
    quick loop 28.0 s on average with 3 and 28.5 s with 4, with ~3 s more CPU."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)  # the CPUs this run may use
    return cpus + 1 if _quick(config) else cpus + 3


def _quick(config: pytest.Config) -> bool:
    """The quick loop (docs/development.md): the slow tests left out."""
    return bool(config.getoption("markexpr", "") == "not slow")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests = Path(__file__).resolve().parent
    modules: dict[str, object] = {}  # a collected file: its module
    bases: set[str] = set()  # collected tests' node ids without parameters
    used: set[str] = set()
    for item in items:
        parts = Path(str(item.path)).resolve().relative_to(tests).parts
        relative = "/".join(parts)
        module = item.getparent(pytest.Module)
        if module is not None:
            modules[relative] = module.obj
        base = f"{relative}::{item.name.split('[', 1)[0]}"
        bases.add(base)
        keys = [k for k in (f"{relative}::{item.name}", base, relative) if k in _SLOW_TESTS]
        used.update(keys)
        if (parts and parts[0] in _SLOW_FOLDERS) or keys:
            item.add_marker(pytest.mark.slow)
    # A renamed test must not leave the quick loop silently heavier (or its entry silently dead). Asked of the
    # module, not of the items collected: a run of one test (a node id, -k) collects only part of a file.
    stale = []
    for key in _SLOW_TESTS:
        file, _, test = key.partition("::")
        if not test or file not in modules:
            continue
        gone = not hasattr(modules[file], test.split("[", 1)[0])
        case_gone = "[" in key and key.split("[", 1)[0] in bases and key not in used  # a case its test no longer has
        if gone or case_gone:
            stale.append(key)
    if stale:
        raise pytest.UsageError(f"tests/conftest.py _SLOW_TESTS names tests that no longer exist: {stale}")


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection built (test modules, their imports: azsqlctl, the SDKs, sqlglot, hypothesis) lives for the
    whole run: frozen out of the cyclic collector, it is no longer rescanned by every full collection (~0.15 s each,
    15-17 per worker in the quick loop, and pytest's five at the end)."""
    del session
    import gc

    gc.freeze()
