# ruff: noqa
"""vulture's whitelist: names used by frameworks, protocols or data shapes, not by our own calls.

.ci/run runs `vulture azsqlctl .ci/vulture_whitelist.py --min-confidence 60` (not over tests: a name
only tests use would look alive). Add a name
here only with the reason it is alive; dead code is deleted instead.
"""

# Framework hooks (Typer registers commands by decorator, http.server/socketserver call do_*/log_message,
# context managers take exc_type/tb), protocol constants (TDS, PRELOGIN), enum members used by value,
# data-shape fields read by tests or serialisers, and pyodbc module attributes set for their side effect.
_.pooling  # unused attribute (azsqlctl/azure/driver.py:49)
root  # unused function (azsqlctl/cli/app.py:47)
Port  # unused variable (azsqlctl/cli/sandbox.py:24)
serve_command  # unused function (azsqlctl/cli/sandbox.py:35)
run_command  # unused function (azsqlctl/cli/sandbox.py:95)
reset_command  # Typer command (azsqlctl/cli/sandbox.py)
get_metavar  # click ParamType hook: the help type column (azsqlctl/cli/options.py)
_.__signature__  # read by Typer (inspect.signature): the shared connection options (azsqlctl/cli/options.py with_target)
connection_timeout  # ClientOptions keys: azure-core reads them as keyword arguments (azsqlctl/azure/transport.py)
read_timeout  # the same
retry_connect  # the same
retry_read  # the same
_.__annotations__  # read by Typer (typing.get_type_hints): the same (azsqlctl/cli/options.py with_target)
logs_endpoint  # unused variable (azsqlctl/core/clouds.py:23)

admin_sid  # unused variable (azsqlctl/core/ports.py:93)
PL_TRACEID  # unused variable (azsqlctl/protocol/prelogin.py:16)
PL_NONCE  # unused variable (azsqlctl/protocol/prelogin.py:18)
MANAGED_IDENTITY  # unused variable (azsqlctl/core/settings.py:19)
WORKLOAD_IDENTITY  # unused variable (azsqlctl/core/settings.py:20)
ENVIRONMENT  # unused variable (azsqlctl/core/settings.py:21)
DEVICE_CODE  # unused variable (azsqlctl/core/settings.py:22)
GITHUB_ACTIONS  # enum member used by value (azsqlctl/core/settings.py)
create_command  # Typer command (azsqlctl/cli/sandbox_apps.py)
list_command  # Typer command (azsqlctl/cli/sandbox_apps.py)
add_secret_command  # Typer command (azsqlctl/cli/sandbox_apps.py)
add_certificate_command  # Typer command (azsqlctl/cli/sandbox_apps.py)
add_federated_credential_command  # Typer command (azsqlctl/cli/sandbox_apps.py)
do_DELETE  # unused variable (azsqlctl/sandbox/arm/endpoint.py:267)
do_GET  # unused variable (azsqlctl/sandbox/arm/endpoint.py:267)
do_PATCH  # unused variable (azsqlctl/sandbox/arm/endpoint.py:267)
do_PUT  # unused variable (azsqlctl/sandbox/arm/endpoint.py:267)
daemon_threads  # unused variable (azsqlctl/sandbox/dns/endpoint.py:71)
block_on_close  # unused variable (azsqlctl/sandbox/dns/endpoint.py:72)
protocol_version  # unused variable (azsqlctl/sandbox/http.py:19)
_.log_message  # unused method (azsqlctl/sandbox/http.py:22)
daemon_threads  # unused variable (azsqlctl/sandbox/http.py:54)
_.process_request  # unused method (azsqlctl/sandbox/http.py:62)
_.do_GET  # unused method (azsqlctl/sandbox/entra/identity_endpoint.py:109)
exc_type  # unused variable (azsqlctl/sandbox/serve.py:117)
tb  # unused variable (azsqlctl/sandbox/serve.py:117)
NVARCHAR  # unused variable (azsqlctl/sandbox/sql/sqltypes.py:38)
VARCHAR  # unused variable (azsqlctl/sandbox/sql/sqltypes.py:39)
VARBINARY  # unused variable (azsqlctl/sandbox/sql/sqltypes.py:40)
BIT  # unused variable (azsqlctl/sandbox/sql/sqltypes.py:41)
TINYINT  # unused variable (azsqlctl/sandbox/sql/sqltypes.py:42)
SMALLINT  # unused variable (azsqlctl/sandbox/sql/sqltypes.py:43)
INT  # unused variable (azsqlctl/sandbox/sql/sqltypes.py:44)
BIGINT  # unused variable (azsqlctl/sandbox/sql/sqltypes.py:45)
DECIMAL  # unused variable (azsqlctl/sandbox/sql/sqltypes.py:46)
MONEY  # unused variable (azsqlctl/sandbox/sql/sqltypes.py:47)
FLOAT  # unused variable (azsqlctl/sandbox/sql/sqltypes.py:48)
REAL  # unused variable (azsqlctl/sandbox/sql/sqltypes.py:49)
UNIQUEIDENTIFIER  # unused variable (azsqlctl/sandbox/sql/sqltypes.py:50)
DATE  # unused variable (azsqlctl/sandbox/sql/sqltypes.py:51)
TIME  # unused variable (azsqlctl/sandbox/sql/sqltypes.py:52)
DATETIME  # unused variable (azsqlctl/sandbox/sql/sqltypes.py:53)
DATETIME2  # unused variable (azsqlctl/sandbox/sql/sqltypes.py:54)
DATETIMEOFFSET  # unused variable (azsqlctl/sandbox/sql/sqltypes.py:55)
precision  # unused variable (azsqlctl/sandbox/sql/sqltypes.py:70)
scale  # unused variable (azsqlctl/sandbox/sql/sqltypes.py:71)
_.is_max  # unused property (azsqlctl/sandbox/sql/sqltypes.py:73)
Param  # unused class (azsqlctl/sandbox/sql/sqltypes.py:78)
event_id  # unused variable (azsqlctl/sandbox/state.py:119)
event_time  # unused variable (azsqlctl/sandbox/state.py:120)
application  # unused variable (azsqlctl/sandbox/state.py:127)
TM_SAVE_XACT  # unused variable (azsqlctl/sandbox/sql/tds/session.py:48)
DONEINPROC  # unused variable (azsqlctl/sandbox/sql/tds/tokens.py:25)
RETURNSTATUS  # unused variable (azsqlctl/sandbox/sql/tds/tokens.py:26)
_.pooling  # unused attribute (tests/conftest.py:65)
_.autocommit  # unused attribute (tests/e2e/test_tds_login.py:108)

# Left for their owners to use or delete (grant's parameters go with its dict(locals()); sandbox counters).
type_  # unused variable (azsqlctl/cli/grant.py:36)
apply  # unused variable (azsqlctl/cli/grant.py:61)
dry_run  # unused variable (azsqlctl/cli/grant.py:62)
ensure_entra_admin  # unused variable (azsqlctl/cli/grant.py:79)
entra_admin_id  # unused variable (azsqlctl/cli/grant.py:88)
entra_admin_type  # unused variable (azsqlctl/cli/grant.py:92)
replace_admin  # unused variable (azsqlctl/cli/grant.py:95)
_.queries  # unused attribute (azsqlctl/sandbox/dns/endpoint.py:31)
_.queries  # unused attribute (azsqlctl/sandbox/dns/endpoint.py:36)
_.logins_failed  # unused attribute (azsqlctl/sandbox/sql/endpoint.py:71)
_.logins_failed  # unused attribute (azsqlctl/sandbox/sql/endpoint.py:83)
password_present  # unused variable (azsqlctl/sandbox/sql/tds/handshake.py:56)
_.fedauth_library  # unused property (azsqlctl/sandbox/sql/tds/handshake.py:80)
new_spid  # unused function (azsqlctl/sandbox/sql/tds/session.py:214)
reset_connection  # unused variable (azsqlctl/sandbox/sql/tds/wire.py:169)
scopes  # unused variable (tests/e2e/test_arm.py:85)

# Merged work of this session: wire-format constants kept for the spec's completeness (TDS type ids
# and feature ids the codec names in its errors), stats counters read by tests and benchmarks,
# pytest module hooks, and pyodbc cursor attributes set for their side effect.
rows_received  # Follower.stats counter (azsqlctl/core/logs/follow.py)
dns_udp  # Sandbox property tests and bench read (azsqlctl/sandbox/serve.py)
FEATURE_UTF8_SUPPORT  # LOGIN7 feature id (azsqlctl/sandbox/sql/tds/handshake.py)
SSVARIANT  # TDS type id (azsqlctl/sandbox/sql/tds/typeinfo.py)
XML  # TDS type id (azsqlctl/sandbox/sql/tds/typeinfo.py)
UDT  # TDS type id (azsqlctl/sandbox/sql/tds/typeinfo.py)
TVP  # TDS type id (azsqlctl/sandbox/sql/tds/typeinfo.py)
_.fast_executemany  # pyodbc cursor attribute (tests/e2e/test_tds_rpc.py)
collect_ignore  # pytest conftest hook (tests/kusto/conftest.py)
logs_command  # Typer command, registered by app._register (azsqlctl/cli/logs.py)
enable_command  # Typer command (azsqlctl/cli/logs.py)
status_command  # Typer command (azsqlctl/cli/logs.py)
do_POST  # http.server handler method (azsqlctl/sandbox/monitor/loganalytics.py)
provide_token  # SQLAlchemy do_connect listener, registered by decorator (tests/clients/sqla_support.py)
node_modules  # autouse pytest fixture (tests/clients/test_node.py)
pytest_addoption  # pytest plugin hook (azsqlctl/testing/plugin.py)
pytest_plugins  # pytest module variable (tests/e2e/test_scaffold_plugin.py)
# doctor's start-up: a module-level __getattr__ (PEP 562) builds cli.app's `app` on first use; socketserver's
# StreamRequestHandler reads disable_nagle_algorithm; urllib3 pools read ca_certs/ca_cert_dir (cleared: one shared SSLContext).
__getattr__  # unused function (azsqlctl/cli/app.py)
disable_nagle_algorithm  # unused variable (azsqlctl/sandbox/http.py)
_.ca_certs  # unused attribute (azsqlctl/azure/shared_tls.py)
_.ca_cert_dir  # unused attribute (azsqlctl/azure/shared_tls.py)
disable_instance_discovery  # TypedDict key azure-identity reads (azsqlctl/azure/credentials.py)
# io.RawIOBase and http.server / socketserver call these (sandbox/http.py's bounded request reader and handler).
_.readable  # io.RawIOBase protocol (azsqlctl/sandbox/http.py)
_.readinto  # io.RawIOBase protocol (azsqlctl/sandbox/http.py)
_.handle_one_request  # BaseHTTPRequestHandler hook (azsqlctl/sandbox/http.py)
_.close_connection  # read by BaseHTTPRequestHandler.handle (azsqlctl/sandbox/http.py)
_.requestline  # read by BaseHTTPRequestHandler.log_request (azsqlctl/sandbox/http.py)
request_queue_size  # socketserver.TCPServer.server_activate reads it: the listen backlog (azsqlctl/sandbox/http.py)
_.handle_error  # socketserver hook (azsqlctl/sandbox/http.py)
failed_logins  # ScenarioName member: a --scenario choice Typer offers by value (azsqlctl/cli/sandbox.py)
fleet  # ScenarioName member, as above
no_monitoring  # ScenarioName member, as above
web_app  # ScenarioName member, as above
pytestmark  # pytest reads the module's marks (tests/stacks)
secret_name  # a SQLModel model field: the ORM maps it to a column (tests/stacks/test_sqlalchemy_stack.py)
# Since vulture stopped reading tests (issue 19): names alive only through a value, a framework or the
# test-facing API of the sandbox and the pytest plugin.
docker  # EnvFormat member: a --format choice Typer offers by value (azsqlctl/cli/sandbox.py)
DRY_RUN  # grant Mode member, built from --dry-run by value (azsqlctl/core/grant/operation.py)
NONE  # scaffold CI choice "none", offered by value (azsqlctl/core/scaffold/inputs.py)
CLI  # AuthKind member: --auth cli, parsed by value (azsqlctl/core/settings.py)
combinations  # scaffold Inputs: every valid input set, enumerated by the scaffold tests and bench (core/scaffold/inputs.py)
# The follower's observable state (counters and the watermark): what bench/logs.py reports and the unit
# tests assert, so dedup and the window rule stay checkable without a Log Analytics round trip.
_.outside_window  # azsqlctl/core/logs/follow.py
_.emitted  # azsqlctl/core/logs/follow.py
watermark  # azsqlctl/core/logs/follow.py (read by bench/logs.py)
remembered  # azsqlctl/core/logs/follow.py
scanned  # policy.Loaded: how many lines the loader read, the scaling evidence (azsqlctl/core/grant/policy.py)
# Used only by tests today; kept until issue 19's core-by-feature move decides their home (deleting them
# now would break test files other branches edit): the role->permission expansion and CONTROL check.
effective_permissions  # azsqlctl/core/roles.py
has_control  # azsqlctl/core/visible.py
# The sandbox's ledger and test-facing API: read by the e2e tests and bench through the running sandbox.
_.hits  # azsqlctl/sandbox/faults.py: how often a fault fired
_.rows_returned  # azsqlctl/sandbox/monitor/loganalytics.py: query ledger
_.bytes_returned  # azsqlctl/sandbox/monitor/loganalytics.py: query ledger
identity_http  # azsqlctl/sandbox/serve.py: endpoint address tests connect to
arm_http  # azsqlctl/sandbox/serve.py: endpoint address tests connect to
issue_token  # azsqlctl/sandbox/serve.py: mint a token for a sandbox identity
broken  # azsqlctl/sandbox/store.py: whether the state file could not be read
_.servername  # azsqlctl/sandbox/sql/tds/handshake.py: LOGIN7 field decoded as sent (codec tests compare it)
fedauth_workflow  # azsqlctl/sandbox/sql/tds/handshake.py: LOGIN7 FEDAUTH extension field decoded as sent
# azsqlctl.testing: the pytest plugin users load (-p azsqlctl.testing.plugin); fixtures and control methods
# are its public API, called from users' tests.
azsql_env  # fixture
azsql_identities  # fixture
azsql_control  # fixture
make_user  # SandboxControl
deny_login  # SandboxControl
set_database_available  # SandboxControl
set_token_lifetime  # SandboxControl
token_requests  # SandboxControl
logins  # SandboxControl
azsql_service_principal  # fixture (azsqlctl/testing/plugin.py)
azsql_github_job  # fixture (azsqlctl/testing/plugin.py)
_.certificate_path  # ServicePrincipal field users' tests read (azsqlctl/testing/control.py)
# The JSON shapes cli/sandbox_apps reads azsqlctl.sandbox.entra.manage's answers as (TypedDict keys, read by subscript or only emitted)
app_object_id  # TypedDict key (azsqlctl/cli/sandbox_apps.py)
sp_object_id  # TypedDict key (azsqlctl/cli/sandbox_apps.py)
federated_credentials  # TypedDict key (azsqlctl/cli/sandbox_apps.py)
security_version  # SqlSession: the committed security state's version, for a plan cache's key (tests/unit/test_sandbox_security_store.py)
