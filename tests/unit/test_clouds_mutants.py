"""core/clouds.py: the three public clouds' endpoints as typed, the scopes derived from them, and custom clouds
(what is required, what is defaulted, what is refused and how it is named)."""

from __future__ import annotations

import pytest

from azsqlctl.core import clouds as cl
from azsqlctl.core.clouds import Cloud, resolve_cloud
from azsqlctl.core.errors import ConfigError

LAB = {"arm_endpoint": "https://arm.lab.example/", "sql_resource": "https://sql.lab.example/", "sql_dns_suffix": ".sql.lab.example"}


def test_the_public_clouds_as_microsoft_publishes_them() -> None:
    published = {
        "AzureCloud": Cloud(
            "AzureCloud", "https://management.azure.com", "https://management.azure.com/", "https://api.loganalytics.io",
            "database.windows.net", "https://database.windows.net/", "https://login.microsoftonline.com",
        ),
        "AzureUSGovernment": Cloud(
            "AzureUSGovernment", "https://management.usgovcloudapi.net", "https://management.usgovcloudapi.net/",
            "https://api.loganalytics.us", "database.usgovcloudapi.net", "https://database.usgovcloudapi.net/",
            "https://login.microsoftonline.us",
        ),
        "AzureChinaCloud": Cloud(
            "AzureChinaCloud", "https://management.chinacloudapi.cn", "https://management.chinacloudapi.cn/",
            "https://api.loganalytics.azure.cn", "database.chinacloudapi.cn", "https://database.chinacloudapi.cn/",
            "https://login.chinacloudapi.cn",
        ),
    }  # fmt: skip
    assert published == cl.BUILTIN
    public = cl.BUILTIN["AzureCloud"]
    assert (public.ca_bundle, public.dns_server, public.logs_resource) == ("", "", "")
    assert cl.SANDBOX_CLOUD_NAME == "AzsqlctlSandbox"


def test_scopes_and_audiences() -> None:
    public = cl.BUILTIN["AzureCloud"]
    assert public.sql_scope == "https://database.windows.net/.default"
    assert public.arm_scope == "https://management.azure.com/.default"
    assert public.logs_audience == "https://api.loganalytics.io"
    own = Cloud("x", "https://a", "https://a", "https://logs/", "s", "https://s", logs_resource="https://aud/")
    assert (own.sql_scope, own.arm_scope, own.logs_audience) == ("https://s/.default", "https://a/.default", "https://aud")
    assert own.custom and not public.custom


def test_a_builtin_name_in_any_case_keeps_its_endpoints_unless_overridden() -> None:
    gov = resolve_cloud("AZUREUSGOVERNMENT", {"dns_server": "", "unrelated": "x"}, ca_bundle="/ca.pem")
    assert gov == Cloud(**{**cl.BUILTIN["AzureUSGovernment"].__dict__, "ca_bundle": "/ca.pem"})
    moved = resolve_cloud("azurecloud", {"arm_endpoint": "https://127.0.0.1:8443", "logs_resource": "https://l"})
    assert (moved.name, moved.arm_endpoint, moved.logs_resource) == ("AzureCloud", "https://127.0.0.1:8443", "https://l")
    assert moved.sql_resource == "https://database.windows.net/"


def test_a_custom_cloud_needs_the_three_required_fields() -> None:
    for missing in ("arm_endpoint", "sql_resource", "sql_dns_suffix"):
        settings = {k: v for k, v in LAB.items() if k != missing}
        with pytest.raises(ConfigError) as info:
            resolve_cloud("lab", settings)
        assert (info.value.message, info.value.code) == ("unknown cloud 'lab'", "unknown_cloud")
        assert info.value.hint == (
            "use one of AzureCloud, AzureUSGovernment, AzureChinaCloud, or define a custom cloud by setting "
            f"{'AZSQLCTL_' + missing.upper()} (or [clouds.lab] in azsqlctl.toml)"
        )
    with pytest.raises(ConfigError) as none:
        resolve_cloud("lab", {})
    assert "setting AZSQLCTL_ARM_ENDPOINT, AZSQLCTL_SQL_RESOURCE, AZSQLCTL_SQL_DNS_SUFFIX (or" in none.value.hint


def test_a_custom_clouds_defaults() -> None:
    lab = resolve_cloud("lab", LAB, ca_bundle="/ca.pem")
    assert lab == Cloud(
        name="lab",
        arm_endpoint="https://arm.lab.example",
        arm_resource="https://arm.lab.example/",
        logs_endpoint="",
        sql_dns_suffix="sql.lab.example",
        sql_resource="https://sql.lab.example/",
        authority_host="https://login.microsoftonline.com",
        ca_bundle="/ca.pem",
        dns_server="",
        logs_resource="",
    )
    full = resolve_cloud(
        "lab",
        {**LAB, "arm_resource": "https://armres/", "logs_endpoint": "https://logs/", "authority_host": "https://login.lab",
         "dns_server": "127.0.0.1:5353", "logs_resource": "https://logsres"},
    )  # fmt: skip
    assert (full.arm_resource, full.logs_endpoint, full.authority_host, full.dns_server, full.logs_resource) == (
        "https://armres/", "https://logs", "https://login.lab", "127.0.0.1:5353", "https://logsres",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("key", "value", "example"),
    [
        ("arm_endpoint", "arm.example", "https://management.azure.com"),
        ("arm_resource", "ftp://x", "https://management.azure.com/"),
        ("logs_endpoint", "https://a b", "https://api.loganalytics.io"),
        ("logs_resource", "https://x/?q", "https://api.loganalytics.io"),
        ("sql_resource", "//x", "https://database.windows.net/"),
        ("authority_host", "https://x:123456", "https://login.microsoftonline.com"),
    ],
)
def test_each_url_field_is_refused_with_its_own_example(key: str, value: str, example: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_cloud("AzureCloud", {key: value})
    assert (info.value.message, info.value.hint, info.value.code) == (
        f"AZSQLCTL_{key.upper()} {value!r} is not an absolute http(s) URL",
        f"e.g. {example}",
        "bad_cloud",
    )


def test_the_dns_suffix_is_a_host_name_and_the_source_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_cloud("lab", {**LAB, "sql_dns_suffix": "a..b"}, sources={"sql_dns_suffix": "azsqlctl.toml [clouds.lab].sql_dns_suffix"})
    assert (info.value.message, info.value.hint) == (
        "azsqlctl.toml [clouds.lab].sql_dns_suffix 'a..b' is not a DNS suffix",
        "e.g. database.windows.net",
    )
    with pytest.raises(ConfigError, match=r"^AZSQLCTL_SQL_DNS_SUFFIX"):  # a source map without this field: the variable
        resolve_cloud("lab", {**LAB, "sql_dns_suffix": "a b"}, sources={"arm_endpoint": "x"})
    # what is accepted: http and https, ports, paths; a leading dot on the suffix; dns_server is not a URL
    ok = resolve_cloud("lab", {**LAB, "arm_endpoint": "http://127.0.0.1:8443/a/b", "dns_server": "127.0.0.1:53"})
    assert ok.arm_endpoint == "http://127.0.0.1:8443/a/b" and ok.sql_dns_suffix == "sql.lab.example"


def test_only_slashes_and_a_leading_dot_are_trimmed() -> None:
    own = Cloud("x", "https://a", "https://armX", "https://logsX", "s", "https://sqlX", logs_resource="https://audX")
    assert (own.sql_scope, own.arm_scope, own.logs_audience) == ("https://sqlX/.default", "https://armX/.default", "https://audX")
    assert Cloud("x", "https://a", "https://a", "https://logsX//", "s", "https://s").logs_audience == "https://logsX"
    lab = resolve_cloud(
        "lab",
        {"arm_endpoint": "https://armX/", "sql_resource": "https://s/", "sql_dns_suffix": ".Xdb.lab", "logs_endpoint": "https://logX/"},
    )
    assert (lab.arm_endpoint, lab.arm_resource, lab.logs_endpoint, lab.sql_dns_suffix) == (
        "https://armX", "https://armX/", "https://logX", "Xdb.lab",
    )  # fmt: skip
    assert lab.ca_bundle == ""  # no CA bundle unless given


def test_a_bad_dns_suffix_is_a_cloud_error() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_cloud("lab", {**LAB, "sql_dns_suffix": "db_lab"})
    assert info.value.code == "bad_cloud"
