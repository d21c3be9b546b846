"""TDS session behaviour real clients depend on: packet size, UTF-16 everywhere, RESETCONNECTION, FEDAUTHINFO."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from azsqlctl.protocol.tds import HEADER, SQL_BATCH, TRANSACTION_MANAGER
from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.sql.tds import session as tds_session
from azsqlctl.sandbox.sql.tds import tokens as tk
from azsqlctl.sandbox.sql.tds import wire
from azsqlctl.sandbox.sql.tds.handshake import FEATURE_FEDAUTH, Login7
from azsqlctl.sandbox.sql.tds.wire import RawChannel, read_message
from azsqlctl.sandbox.state import DbUser, Identity
from tests import npm_trees
from tests.conftest import driver_path, raw_connect
from tests.e2e.test_tds_login import client_id_of, mi_token


@pytest.mark.parametrize(("size", "chars"), [(8192, 100_000), (16384, 8_000)])
def test_client_packet_size_is_negotiated_and_used(
    sandbox: Sandbox, client_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, size: int, chars: int
) -> None:
    sizes: list[int] = []
    real_send = wire.send_message

    def recording_send(ch: Any, ptype: int, payload: bytes, packet_size: int = 4096, spid: int = 0) -> None:
        sizes.append(packet_size)
        real_send(ch, ptype, payload, packet_size, spid)

    monkeypatch.setattr(tds_session, "send_message", recording_send)
    # ODBC Driver 18 on Linux fails on its own, before sending, with "SSL Provider: Packet size too large
    # for SSL Encrypt/Decrypt operations" once one request packet nears 16 KB (found between 16,300 and
    # 16,376 bytes), whatever the server grants; so at 16384 the request stays below one full packet.
    cnxn = raw_connect(sandbox, mi_token(), extra=f"PacketSize={size};")
    value = cnxn.cursor().execute("SELECT ?", "z" * chars).fetchone()[0]
    cnxn.close()
    assert value == "z" * chars
    assert sizes[-1] == size  # responses after LOGIN7 are framed at the negotiated size
    assert sizes[1] == 4096  # the login response itself still at the size in force when LOGIN7 arrived


def test_non_bmp_names_survive_every_string_field(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    name = "😀-api 𠀋"
    with sandbox.store.mutate() as s:
        ident = Identity(name, "managed_identity", "7a1c2f3a-0000-4000-8000-00000000b001", client_id="7a1c2f3a-0000-4000-8000-00000000b002")
        s.identities.append(ident)
    with sandbox.sql.storage.edit_security("appdb") as appdb:
        appdb.users.append(DbUser(name, ident.client_id, "E", 21))
    tenant = sandbox.store.read(lambda s: s.tenant_id)
    cnxn = raw_connect(sandbox, sandbox.issue_token(name))
    cur = cnxn.cursor()
    assert tuple(cur.execute("SELECT SUSER_SNAME(), USER_NAME()").fetchone()) == (f"{name}@{tenant}", name)
    rows = cur.execute("SELECT name FROM sys.database_principals WHERE type = 'E'").fetchall()
    assert name in {r.name for r in rows}
    cnxn.close()


# --- RESETCONNECTION, spoken by a hand-written client over a socket --------------------------------

ALL_HEADERS = struct.pack("<IIHQI", 22, 18, 2, 0, 1)  # transaction descriptor header, as drivers send it


def _send(sock: socket.socket, ptype: int, payload: bytes, status: int = 0x01) -> None:
    sock.sendall(HEADER.pack(ptype, status, len(payload) + HEADER.size, 0, 1, 0) + payload)


@pytest.fixture
def logged_in(sandbox: Sandbox, client_env: dict[str, str]) -> Iterator[socket.socket]:
    """A client socket whose server side is a logged-in session (TLS left out: this is about what follows)."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    token = mi_token().encode("utf-16-le")
    login = Login7(
        0x74000004, 4096, 0x10, database="appdb", features={FEATURE_FEDAUTH: bytes([0x02]) + struct.pack("<I", len(token)) + token}
    )
    outcome = sandbox.sql.login(login, 99, "127.0.0.1", encrypted=True)
    assert outcome.context is not None
    assert sandbox.tds is not None
    sess = tds_session.Session(server, sandbox.sql, sandbox.tds.tls, 99, lambda point: None)
    sess.ctx = outcome.context
    thread = threading.Thread(target=lambda: _serve_quietly(sess, server), daemon=True)
    thread.start()
    yield client
    client.close()
    thread.join(timeout=5)
    server.close()


def _serve_quietly(sess: tds_session.Session, server: socket.socket) -> None:
    try:
        sess._serve(RawChannel(server))
    except Exception:  # the client hanging up ends the loop
        return


def _request(sock: socket.socket, ptype: int, payload: bytes, status: int = 0x01) -> bytes:
    _send(sock, ptype, ALL_HEADERS + payload, status)
    return read_message(RawChannel(sock)).body


def _sql(text: str) -> bytes:
    return text.encode("utf-16-le")


BEGIN_TRAN = struct.pack("<HB", 5, 0) + b"\x00"  # TM_BEGIN_XACT, isolation unchanged, no name
PROBE = "SELECT name FROM sys.database_principals WHERE name = 'reset_probe'"


@pytest.mark.parametrize(("status", "kept"), [(0x01 | 0x08, False), (0x01 | 0x10, True)])
def test_resetconnection_rolls_back_open_work(logged_in: socket.socket, status: int, kept: bool) -> None:
    assert _request(logged_in, TRANSACTION_MANAGER, BEGIN_TRAN)[:3] == bytes([tk.ENVCHANGE, 11, 0])
    _request(logged_in, SQL_BATCH, _sql("CREATE ROLE reset_probe"))
    assert _sql("reset_probe") in _request(logged_in, SQL_BATCH, _sql(PROBE))  # visible inside the transaction
    answer = _request(logged_in, SQL_BATCH, _sql(PROBE), status)  # the pool hands the connection out again
    ack = tk.envchange(tk.ENV_RESET_ACK, b"\x00", b"\x00")
    assert ack in answer
    assert (_sql("reset_probe") in answer) is kept  # RESETCONNECTIONSKIPTRAN keeps the transaction
    if not kept:
        assert answer.startswith(bytes([tk.ENVCHANGE]) + struct.pack("<HB", 11, tk.ENV_ROLLBACK_TRAN))
        assert _sql("reset_probe") not in _request(logged_in, SQL_BATCH, _sql(PROBE))


# --- FEDAUTHINFO: the driver fetches its own token ------------------------------------------------


def _msi_connect(sandbox: Sandbox, extra: str = "", encrypt: str = "yes", timeout: int = 15) -> Any:
    import pyodbc

    pyodbc.pooling = False
    server = f"DRIVER={{{driver_path()}}};SERVER=tcp:localhost,{sandbox.tds_port};DATABASE=appdb;Encrypt={encrypt};"
    conn_str = f"{server}Authentication=ActiveDirectoryMsi;{extra}"
    return pyodbc.connect(conn_str, timeout=timeout)


@pytest.fixture
def sts(sandbox: Sandbox) -> str:
    tenant = sandbox.store.read(lambda s: s.tenant_id)
    sandbox.sql.fedauth_sts_url = f"{sandbox.identity_http.url}/{tenant}"
    return sandbox.sql.fedauth_sts_url


@pytest.mark.parametrize("encrypt", ["yes", "strict"])
def test_odbc_active_directory_msi_logs_in_through_fedauthinfo(
    sandbox: Sandbox, client_env: dict[str, str], sts: str, encrypt: str
) -> None:
    del sts
    tenant = sandbox.store.read(lambda s: s.tenant_id)
    cnxn = _msi_connect(sandbox, encrypt=encrypt)  # the driver calls IDENTITY_ENDPOINT with the SPN from FEDAUTHINFO
    assert cnxn.cursor().execute("SELECT SUSER_SNAME()").fetchone()[0] == f"sandbox-operator@{tenant}"
    cnxn.close()
    orders = client_id_of(sandbox, "orders-api")
    cnxn = _msi_connect(sandbox, f"UID={orders};", encrypt)  # a user-assigned identity, by client id
    assert tuple(cnxn.cursor().execute("SELECT SUSER_SNAME(), USER_NAME()").fetchone()) == (f"orders-api@{tenant}", "orders-api")
    cnxn.close()


def test_odbc_msi_login_without_a_database_user_is_refused_not_hung(sandbox: Sandbox, client_env: dict[str, str], sts: str) -> None:
    import pyodbc

    del sts
    worker = client_id_of(sandbox, "billing-worker")  # has no user in appdb
    started = time.monotonic()
    with pytest.raises(pyodbc.Error, match=r"Login failed for user '<token-identified principal>'.*\(18456\)"):
        _msi_connect(sandbox, f"UID={worker};")
    assert time.monotonic() - started < 10


# --- tedious (npm), when the client tests' node_modules are installed (.ci/run does) ---------------

# tedious comes from the client tests' locked npm tree (tests/clients/node).
TEDIOUS_SCRIPT = r"""
const fs = require('fs');
const { Connection, Request } = require('tedious');
const env = process.env;
const [host, port] = env.AZSQLCTL_SERVER.split(',');
const auth = env.MODE === 'msi'
  ? { type: 'azure-active-directory-msi-app-service', options: {} }
  : { type: 'azure-active-directory-access-token', options: { token: env.SQL_TOKEN } };
const conn = new Connection({ server: host, authentication: auth, options: { port: Number(port), database: 'appdb',
  encrypt: true, trustServerCertificate: false, cryptoCredentialsDetails: { ca: fs.readFileSync(env.AZSQLCTL_CA_BUNDLE) } } });
const call = (fn) => new Promise((ok, no) => fn((err) => (err ? no(err) : ok())));
const rows = (sql) => new Promise((ok, no) => {
  const out = [];
  const req = new Request(sql, (err) => (err ? no(err) : ok(out)));
  req.on('row', (cols) => out.push(cols.map((c) => c.value)));
  conn.execSqlBatch(req);
});
const probe = "SELECT name FROM sys.database_principals WHERE name = 'reset_probe'";
conn.connect(async (err) => {
  if (err) { console.log(JSON.stringify({ error: err.message })); process.exit(1); }
  try {
    const who = await rows('SELECT SUSER_SNAME()');
    await call((cb) => conn.beginTransaction(cb));
    await rows('CREATE ROLE reset_probe');
    const inside = await rows(probe);
    await call((cb) => conn.reset(cb));  // what a pool does before handing the connection out again
    const after = await rows(probe);
    console.log(JSON.stringify({ who, inside, after }));
  } finally { conn.close(); }
});
"""


def _tedious(sandbox: Sandbox, env: dict[str, str], mode: str) -> dict[str, Any]:
    modules = npm_trees.ensure(npm_trees.CLIENTS, "tedious")
    run_env = dict(os.environ, **env, MODE=mode, SQL_TOKEN=mi_token(), NODE_PATH=str(modules))
    done = subprocess.run([npm_trees.node(), "-e", TEDIOUS_SCRIPT], env=run_env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("mode", ["token", "msi"])
def test_tedious_reset_rolls_back_and_msi_logs_in_through_fedauthinfo(
    sandbox: Sandbox, client_env: dict[str, str], sts: str, mode: str
) -> None:
    del sts
    tenant = sandbox.store.read(lambda s: s.tenant_id)
    got = _tedious(sandbox, client_env, mode)
    assert got == {"who": [[f"sandbox-operator@{tenant}"]], "inside": [["reset_probe"]], "after": []}


def test_malformed_rpc_is_an_error_and_the_session_goes_on(logged_in: socket.socket) -> None:
    from azsqlctl.protocol.tds import RPC

    answer = _request(logged_in, RPC, b"\xff\xff\x0a\x00\x00\x00\x00\x00\xe7\xff")  # sp_executesql, TYPE_INFO cut short
    assert answer[0] == tk.ERROR and struct.unpack_from("<i", answer, 3)[0] == 8009
    assert bytes([tk.ROW, 4]) + struct.pack("<i", 1) in _request(logged_in, SQL_BATCH, _sql("SELECT 1 AS n"))
