"""core/config.py: the settings table as users meet it (flags, variables, file keys), the file's checks and the
one precedence rule, value by value (pure logic; files in tmp_path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from azsqlctl.core import config as cf
from azsqlctl.core.config import FileConfig, Setting
from azsqlctl.core.errors import ConfigError, UsageError

# fmt: off
SETTINGS_AS_TYPED = [
    ("server", "--server", "AZSQLCTL_SERVER", True),
    ("database", "--database", "AZSQLCTL_DATABASE", True),
    ("subscription", "--subscription", "AZSQLCTL_SUBSCRIPTION", True),
    ("resource_group", "--resource-group", "AZSQLCTL_RESOURCE_GROUP", True),
    ("cloud", "--cloud", "AZSQLCTL_CLOUD", True),
    ("auth", "--auth", "AZSQLCTL_AUTH", True),
    ("client_id", "--client-id", "AZSQLCTL_CLIENT_ID", True),
    ("tenant_id", "--tenant-id", "AZSQLCTL_TENANT_ID", True),
    ("driver", "--driver", "AZSQLCTL_ODBC_DRIVER", True),
    ("ca_bundle", "--ca-bundle", "AZSQLCTL_CA_BUNDLE", True),
    ("timeout", "--timeout", "AZSQLCTL_TIMEOUT", True),
    ("output", "--output", "AZSQLCTL_OUTPUT", True),
    ("connection_string", "--connection-string", "AZSQLCTL_CONNECTION_STRING", False),
    ("arm_endpoint", "", "AZSQLCTL_ARM_ENDPOINT", False),
    ("arm_resource", "", "AZSQLCTL_ARM_RESOURCE", False),
    ("logs_endpoint", "", "AZSQLCTL_LOGS_ENDPOINT", False),
    ("logs_resource", "", "AZSQLCTL_LOGS_RESOURCE", False),
    ("sql_dns_suffix", "", "AZSQLCTL_SQL_DNS_SUFFIX", False),
    ("sql_resource", "", "AZSQLCTL_SQL_RESOURCE", False),
    ("authority_host", "", "AZSQLCTL_AUTHORITY_HOST", False),
    ("dns_server", "", "AZSQLCTL_DNS_SERVER", False),
]
# fmt: on
CUSTOM = (
    "arm_endpoint",
    "arm_resource",
    "logs_endpoint",
    "logs_resource",
    "sql_dns_suffix",
    "sql_resource",
    "authority_host",
    "dns_server",
)
NO_FILE = FileConfig(None, {})


def test_the_settings_table_as_documented() -> None:
    assert [(s.key, s.flag, s.env, s.in_file) for s in cf.SETTINGS] == SETTINGS_AS_TYPED
    assert {k: s.env for k, s in cf.BY_KEY.items()} == {k: e for k, _, e, _ in SETTINGS_AS_TYPED}
    assert cf.CUSTOM_FIELDS == CUSTOM
    assert {k for k, _, _, f in SETTINGS_AS_TYPED if f} | {"clouds"} == cf.FILE_KEYS
    assert cf.env_name("driver") == "AZSQLCTL_ODBC_DRIVER"
    assert cf.env_help("server") == "\\[env AZSQLCTL_SERVER]"


def test_file_label_and_cloud_tables() -> None:
    assert NO_FILE.label == ""
    assert FileConfig(Path("/x/azsqlctl.toml"), {}).label == "azsqlctl.toml"
    assert NO_FILE.clouds() == {}
    assert FileConfig(None, {"clouds": "lab"}).clouds() == {}
    tables = FileConfig(None, {"clouds": {"lab": {"arm_endpoint": "https://a", "port": 1}, "bad": "x"}}).clouds()
    assert tables == {"lab": {"arm_endpoint": "https://a", "port": "1"}}


def test_load_prefers_azsqlctl_toml_then_the_pyproject_section(tmp_path: Path) -> None:
    assert cf.load_file_config(tmp_path) == NO_FILE
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert cf.load_file_config(tmp_path) == NO_FILE  # no [tool] at all
    (tmp_path / "pyproject.toml").write_text('tool = "x"\n')
    assert cf.load_file_config(tmp_path) == NO_FILE  # [tool] that is not a table
    (tmp_path / "pyproject.toml").write_text('[tool]\nazsqlctl = "x"\n')
    assert cf.load_file_config(tmp_path) == NO_FILE  # the section is not a table
    (tmp_path / "pyproject.toml").write_text('[tool.azsqlctl]\ndatabase = "d"\n')
    assert cf.load_file_config(tmp_path) == FileConfig(tmp_path / "pyproject.toml", {"database": "d"})
    (tmp_path / "pyproject.toml").write_text('[tool.azsqlctl]\ndatabse = "d"\n')
    with pytest.raises(ConfigError, match=r"pyproject\.toml has unknown key: databse"):
        cf.load_file_config(tmp_path)  # the section is checked too
    (tmp_path / "azsqlctl.toml").write_text('server = "s"\n')
    assert cf.load_file_config(tmp_path) == FileConfig(tmp_path / "azsqlctl.toml", {"server": "s"})


def test_unknown_keys_name_the_closest_known_key(tmp_path: Path) -> None:
    (tmp_path / "azsqlctl.toml").write_text('servre = "s"\n')
    with pytest.raises(ConfigError) as one:
        cf.load_file_config(tmp_path)
    known = ", ".join(sorted(cf.FILE_KEYS))
    assert (one.value.message, one.value.hint, one.value.code) == (
        "azsqlctl.toml has unknown key: servre",
        f"did you mean 'server'? known keys: {known}",
        "unknown_config_key",
    )
    (tmp_path / "azsqlctl.toml").write_text('zzz = 1\nqqq = 2\nserver = "s"\n')
    with pytest.raises(ConfigError) as two:
        cf.load_file_config(tmp_path)
    assert (two.value.message, two.value.hint) == ("azsqlctl.toml has unknown keys: qqq, zzz", f"known keys: {known}")


def test_the_keys_of_each_cloud_table_are_checked(tmp_path: Path) -> None:
    (tmp_path / "azsqlctl.toml").write_text('[clouds.lab]\narm_endpiont = "https://a"\n[clouds.ok]\narm_endpoint = "https://a"\n')
    with pytest.raises(ConfigError) as info:
        cf.load_file_config(tmp_path)
    assert info.value.message == "azsqlctl.toml [clouds.lab] has unknown key: arm_endpiont"
    assert info.value.hint == f"did you mean 'arm_endpoint'? known keys: {', '.join(sorted(CUSTOM))}"
    (tmp_path / "azsqlctl.toml").write_text('clouds = "lab"\n')
    assert cf.load_file_config(tmp_path).values == {"clouds": "lab"}  # not a table: nothing to check (clouds() ignores it)
    (tmp_path / "azsqlctl.toml").write_text('[clouds]\nlab = "x"\n[clouds.ok]\narm_endpoint = "https://a"\n')
    assert cf.load_file_config(tmp_path).clouds() == {"ok": {"arm_endpoint": "https://a"}}


def test_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "azsqlctl.toml"
    bad.write_text("server = \n")
    with pytest.raises(ConfigError) as toml:
        cf.load_file_config(tmp_path)
    assert toml.value.message.startswith("azsqlctl.toml is not valid TOML: ") and toml.value.hint == f"fix the syntax in {bad}"
    bad.write_bytes(b'server = "\xff"\n')
    with pytest.raises(ConfigError) as utf:
        cf.load_file_config(tmp_path)
    assert utf.value.message == "azsqlctl.toml is not UTF-8 text: invalid start byte at byte 10"
    assert utf.value.hint == f"save {bad} as UTF-8"
    with pytest.raises(ConfigError) as unreadable:
        cf._read(tmp_path)  # a directory: the OSError branch
    assert unreadable.value.message == f"cannot read {tmp_path}: Is a directory" and unreadable.value.hint == "check the file's permissions"


def test_precedence_value_by_value() -> None:
    file = FileConfig(Path("azsqlctl.toml"), {"database": "filedb", "timeout": 30, "server": "", "driver": ["x"], "cloud": {"a": 1}})
    env = {"AZSQLCTL_DATABASE": "  envdb  ", "AZSQLCTL_SERVER": "   "}
    assert cf.resolve("database", "flagdb", env, file) == Setting("flagdb", "--database")
    assert cf.resolve("database", None, env, file) == Setting("envdb", "AZSQLCTL_DATABASE")  # stripped
    assert cf.resolve("database", None, {}, file) == Setting("filedb", "azsqlctl.toml")
    assert cf.resolve("timeout", 20, {}, file) == Setting("20", "--timeout")  # an int flag
    assert cf.resolve("timeout", None, {}, file) == Setting("30", "azsqlctl.toml")
    assert cf.resolve("server", None, env, file, "dflt") == Setting("dflt", "default")  # blank env, empty file value
    assert cf.resolve("driver", None, {}, file) == Setting("", "default")  # a list is no value
    assert cf.resolve("cloud", None, {}, file) == Setting("", "default")  # nor a table
    assert cf.resolve("client_id", "c", {}, NO_FILE, flag_name="--operator-client-id") == Setting("c", "--operator-client-id")


def test_between_ranks_under_the_environment_and_over_the_file() -> None:
    file = FileConfig(Path("azsqlctl.toml"), {"server": "fileserver"})
    between = (Setting("", "connection string"), Setting("csserver", "connection string"))
    assert cf.resolve("server", None, {}, file, between=between) == Setting("csserver", "connection string")
    assert cf.resolve("server", None, {"AZSQLCTL_SERVER": "e"}, file, between=between) == Setting("e", "AZSQLCTL_SERVER")
    assert cf.resolve("server", None, {}, file, between=(Setting("", "connection string"),)) == Setting("fileserver", "azsqlctl.toml")


def test_an_empty_flag_is_refused_by_its_name() -> None:
    with pytest.raises(UsageError) as info:
        cf.resolve("database", "  ", {}, NO_FILE)
    assert (info.value.message, info.value.hint, info.value.code) == (
        "--database is empty",
        "pass a value, or leave --database out to use AZSQLCTL_DATABASE or the config file",
        "empty_value",
    )
    with pytest.raises(UsageError, match=r"^--arm-endpoint is empty$"):  # no flag of its own: named from the key
        cf.resolve("arm_endpoint", "", {}, NO_FILE)
    with pytest.raises(UsageError, match=r"^--operator-client-id is empty$"):
        cf.resolve("client_id", "", {}, NO_FILE, flag_name="--operator-client-id")


def test_cloud_fields_environment_over_the_named_table_with_sources() -> None:
    file = FileConfig(Path("azsqlctl.toml"), {"clouds": {"Lab": {"arm_endpoint": "https://file-arm", "sql_resource": "https://file-sql/"}}})
    fields, sources = cf.cloud_settings_with_sources("lab", {}, file)
    assert fields == {f: {"arm_endpoint": "https://file-arm", "sql_resource": "https://file-sql/"}.get(f, "") for f in CUSTOM}
    assert sources == {
        "arm_endpoint": "azsqlctl.toml [clouds.Lab].arm_endpoint",
        "sql_resource": "azsqlctl.toml [clouds.Lab].sql_resource",
    }
    env = {"AZSQLCTL_CLOUD": "LAB", "AZSQLCTL_ARM_ENDPOINT": "https://env-arm", "AZSQLCTL_DNS_SERVER": ""}
    fields, sources = cf.cloud_settings_with_sources("lab", env, file)
    assert fields["arm_endpoint"] == "https://env-arm" and sources["arm_endpoint"] == "AZSQLCTL_ARM_ENDPOINT"
    assert fields["dns_server"] == "" and "dns_server" not in sources
    assert sources["sql_resource"] == "azsqlctl.toml [clouds.Lab].sql_resource"
    # the variables describe the cloud AZSQLCTL_CLOUD names: another cloud keeps its table
    other = cf.cloud_settings_with_sources("lab", {"AZSQLCTL_CLOUD": "prod", "AZSQLCTL_ARM_ENDPOINT": "https://env-arm"}, file)
    assert other[0]["arm_endpoint"] == "https://file-arm" and other[1]["arm_endpoint"].startswith("azsqlctl.toml")
    # no AZSQLCTL_CLOUD: the variables apply to the cloud asked for
    unnamed = cf.cloud_settings_with_sources("x", {"AZSQLCTL_SQL_RESOURCE": "https://s/"}, NO_FILE)
    assert unnamed == ({f: ("https://s/" if f == "sql_resource" else "") for f in CUSTOM}, {"sql_resource": "AZSQLCTL_SQL_RESOURCE"})
