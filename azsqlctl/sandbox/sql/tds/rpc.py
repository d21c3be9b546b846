"""RPC requests ([MS-TDS] 2.2.6.6): decoding, and the system procedures clients call to run SQL.

An RPC message is ALL_HEADERS then one or more RPCReqBatch separated by a batch
flag (0x80; 0xFF before TDS 7.2; 0xFE for "no exec"). Each names a procedure by
name (US_VARCHAR) or by well-known id (0xFFFF then a USHORT), carries option
flags and its parameters: B_VARCHAR name, status flags, TYPE_INFO, value.

What runs: ``sp_executesql``, ``sp_prepare`` / ``sp_execute`` / ``sp_prepexec`` /
``sp_unprepare`` (handles live as long as the session), and the ODBC type catalog
``sp_datatype_info[_100]``. The SQL itself goes to ``backend.execute`` with the
parameters bound as values; this module adds RETURNSTATUS, RETURNVALUEs and DONEPROC.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from azsqlctl.sandbox.sql.sqltypes import Param, SqlType, TypeSpec

from ..engine.results import StatementResult
from . import results
from . import tokens as tk
from .typecatalog import datatype_info
from .typeread import MAX_PLP_BYTES, Reader, TdsDecodeError, read_param_type, read_value

PROC_IDS = {
    1: "sp_cursor",
    2: "sp_cursoropen",
    3: "sp_cursorprepare",
    4: "sp_cursorexecute",
    5: "sp_cursorprepexec",
    6: "sp_cursorunprepare",
    7: "sp_cursorfetch",
    8: "sp_cursoroption",
    9: "sp_cursorclose",
    10: "sp_executesql",
    11: "sp_prepare",
    12: "sp_execute",
    13: "sp_prepexec",
    14: "sp_prepexecrpc",
    15: "sp_unprepare",
}
BATCH_SEPARATORS = (0x80, 0xFF, 0xFE)
STATUS_BY_REF = 0x01  # output parameter
STATUS_ENCRYPTED = 0x08  # Always Encrypted: a CryptoMetaData follows the TYPE_INFO
CURCMD_EXECUTE = 0xE0


@dataclass
class RpcCall:
    name: str  # normalised: lower case, no brackets or schema ("sp_executesql")
    proc_id: int | None
    options: int
    params: list[Param] = field(default_factory=list)


# Catalog procedures drivers call as RPC (the ODBC driver's SQLDescribeParam, SQLColumns ...): the SQL engine runs them.
_ENGINE_PROCEDURES = frozenset(
    {"sp_describe_undeclared_parameters", "sp_columns", "sp_columns_100", "sp_tables", "sp_pkeys", "sp_fkeys", "sp_helpindex"}
)


def _normalise(name: str) -> str:
    return name.replace("[", "").replace("]", "").split(".")[-1].strip().lower()


def parse_rpc(body: bytes, max_plp: int = MAX_PLP_BYTES) -> list[RpcCall]:
    """The RPC calls of one request (ALL_HEADERS already stripped); PLP values over ``max_plp`` are refused."""
    r = Reader(body, max_plp=max_plp)
    calls = [_read_call(r)]
    while r.remaining:
        if r.u8() not in BATCH_SEPARATORS:
            raise TdsDecodeError(f"expected an RPC batch separator at offset {r.pos - 1}")
        if r.remaining:
            calls.append(_read_call(r))
    return calls


def _read_call(r: Reader) -> RpcCall:
    n = r.u16()
    if n == 0xFFFF:
        proc_id = r.u16()
        name = PROC_IDS.get(proc_id, f"proc#{proc_id}")
    else:
        proc_id = None
        name = _normalise(r.take(2 * n).decode("utf-16-le", errors="replace"))
    call = RpcCall(name, proc_id, r.u16())
    data, params = r.data, call.params
    while r.pos < len(data) and data[r.pos] not in BATCH_SEPARATORS:
        pname = r.b_varchar()
        status = r.u8()
        if status & STATUS_ENCRYPTED:
            raise TdsDecodeError("Always Encrypted parameters are not supported")
        wt, spec = read_param_type(r)
        params.append(Param(pname, spec, read_value(r, wt, spec), bool(status & STATUS_BY_REF)))
    return call


# --- dispatch --------------------------------------------------------------------------------------


class Executor(Protocol):
    server_name: str

    def execute(self, ctx: Any, sql: str, params: Sequence[Param]) -> tuple[Sequence[StatementResult], bool]: ...


class RpcError(Exception):
    def __init__(self, number: int, message: str, severity: int = 16, state: int = 1) -> None:
        super().__init__(message)
        self.number, self.message, self.severity, self.state = number, message, severity, state


@dataclass(frozen=True)
class Declared:
    name: str
    spec: TypeSpec | None
    output: bool


@dataclass(frozen=True)
class Prepared:
    declarations: str
    statement: str


_DECL_TYPES = {t.value: t for t in SqlType} | {
    "nchar": SqlType.NVARCHAR,
    "char": SqlType.VARCHAR,
    "ntext": SqlType.NVARCHAR,
    "text": SqlType.VARCHAR,
    "binary": SqlType.VARBINARY,
    "image": SqlType.VARBINARY,
    "numeric": SqlType.DECIMAL,
    "smallmoney": SqlType.MONEY,
    "smalldatetime": SqlType.DATETIME,
    "sysname": SqlType.NVARCHAR,
}
_DECL = re.compile(r"^\s*(@\w+)\s+([A-Za-z_]\w*)\s*(?:\(\s*([^)]*)\))?\s*(?:(OUTPUT|OUT)\b)?\s*(?:=.*)?$", re.I | re.S)


def parse_declarations(text: str) -> list[Declared]:
    """``@P1 int,@P2 nvarchar(50) OUTPUT`` -> names, types and direction, in order."""
    return list(_declarations(text) if len(text) <= _CACHED_DECLARATIONS else _parse_declarations(text))


# Drivers send the same @params text with every execution of a prepared statement: parsed once per text.
_CACHED_DECLARATIONS = 1024


@functools.lru_cache(maxsize=1024)
def _declarations(text: str) -> tuple[Declared, ...]:
    return tuple(_parse_declarations(text))


def _parse_declarations(text: str) -> list[Declared]:
    parts: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    out: list[Declared] = []
    for part in parts:
        if not part.strip():
            continue
        m = _DECL.match(part)
        if m is None:
            raise RpcError(102, f"Incorrect syntax near '{part.strip()[:30]}'.", 15)
        out.append(Declared(m[1], _decl_spec(m[2].lower(), m[3]), bool(m[4])))
    return out


def _decl_spec(type_name: str, args: str | None) -> TypeSpec | None:
    t = _DECL_TYPES.get(type_name)
    if t is None:
        return None
    nums = [a.strip().lower() for a in args.split(",")] if args else []
    if t in (SqlType.NVARCHAR, SqlType.VARCHAR, SqlType.VARBINARY):
        if type_name in ("ntext", "text", "image") or (nums and nums[0] == "max"):
            return TypeSpec(t, -1)
        return TypeSpec(t, int(nums[0]) if nums and nums[0].isdigit() else (128 if type_name == "sysname" else 1))
    if t == SqlType.DECIMAL:
        p = int(nums[0]) if nums and nums[0].isdigit() else 18
        s = int(nums[1]) if len(nums) > 1 and nums[1].isdigit() else 0
        return TypeSpec(t, precision=p, scale=s)
    if t in (SqlType.TIME, SqlType.DATETIME2, SqlType.DATETIMEOFFSET):
        return TypeSpec(t, scale=int(nums[0]) if nums and nums[0].isdigit() else 7)
    return TypeSpec(t)


def bind(declarations: str, statement: str, values: Sequence[Param]) -> list[Param]:
    """Give each value its declared name; named values match by name, positional ones by order."""
    return [p for _i, p in bind_positions(declarations, statement, values)]


def bind_positions(declarations: str, statement: str, values: Sequence[Param]) -> list[tuple[int, Param]]:
    """``bind``, with each parameter's position among ``values`` (RETURNVALUE ordinals count from there)."""
    declared = parse_declarations(declarations)
    by_name = {d.name.lower(): d for d in declared}
    bound: dict[str, tuple[int, Param]] = {}
    for i, p in enumerate(values):
        if p.name:
            d = by_name.get(p.name.lower())
            if d is None:
                raise RpcError(8145, f"{p.name} is not a parameter for procedure sp_executesql.", 16)
        else:
            if i >= len(declared):
                raise RpcError(8144, "Procedure or function has too many arguments specified.", 16)
            d = declared[i]
        bound[d.name.lower()] = (i, Param(d.name, p.spec, p.value, p.output or d.output))
    for d in declared:
        if d.name.lower() not in bound:
            text = f"The parameterized query '({declarations}){statement}' expects the parameter '{d.name}', which was not supplied."
            raise RpcError(8178, text, 16)
    return [bound[d.name.lower()] for d in declared]


def _text(p: Param | None, what: str) -> str:
    if p is None or p.value is None:
        return ""
    if not isinstance(p.value, str):
        raise RpcError(214, f"Procedure expects parameter '{what}' of type 'ntext/nchar/nvarchar'.", 16)
    return p.value


def _int(p: Param | None) -> int | None:
    if p is None or p.value is None:
        return None
    if isinstance(p.value, bool) or not isinstance(p.value, int):
        raise RpcError(8179, f"Could not find prepared statement with handle {p.value!s}.", 16)
    return p.value


class RpcDispatcher:
    """One per session: runs RPC calls and owns the session's prepared-statement handles."""

    def __init__(self, backend: Executor) -> None:
        self.backend = backend
        self.handles: dict[int, Prepared] = {}
        self._next = 1

    def run(self, ctx: Any, calls: Sequence[RpcCall]) -> bytes:
        out = bytearray()
        for i, call in enumerate(calls):
            out += self._call(ctx, call, more=i < len(calls) - 1)
        return bytes(out)

    def _error(self, err: RpcError, more: bool) -> bytes:
        token = tk.error(err.number, err.state, err.severity, err.message, self.backend.server_name)
        return token + tk.done(tk.DONE_ERROR | (tk.DONE_MORE if more else 0), token=tk.DONEPROC, curcmd=CURCMD_EXECUTE)

    def _call(self, ctx: Any, call: RpcCall, more: bool) -> bytes:
        try:
            return self._dispatch(ctx, call, more)
        except RpcError as err:
            return self._error(err, more)

    def _dispatch(self, ctx: Any, call: RpcCall, more: bool) -> bytes:
        p = call.params
        name = call.name
        if name == "sp_executesql":
            stmt = _text(p[0] if p else None, "@statement")
            decl = _text(p[1], "@params") if len(p) > 1 else ""
            params = bind_positions(decl, stmt, p[2:]) if decl or len(p) > 2 else []
            return self._run(ctx, stmt, params, [], more, first_value=2)
        if name in ("sp_prepexec", "sp_prepare"):
            if len(p) < 3:
                raise RpcError(201, f"Procedure or function '{name}' expects parameter '@stmt', which was not supplied.", 16)
            decl = _text(p[1], "@params")
            stmt = _text(p[2], "@stmt")
            handle = self._next
            self._next += 1
            self.handles[handle] = Prepared(decl, stmt)
            handle_value = [tk.returnvalue(0, p[0].name, TypeSpec(SqlType.INT), handle)]
            if name == "sp_prepare":
                done = tk.done(tk.DONE_MORE if more else tk.DONE_FINAL, token=tk.DONEPROC, curcmd=CURCMD_EXECUTE)
                return tk.returnstatus(0) + handle_value[0] + done
            return self._run(ctx, stmt, bind_positions(decl, stmt, p[3:]), handle_value, more, first_value=3)
        if name == "sp_execute":
            wanted = _int(p[0] if p else None)
            prepared = self.handles.get(wanted) if wanted is not None else None
            if prepared is None:
                raise RpcError(8179, f"Could not find prepared statement with handle {wanted}.", 16)
            bound = bind_positions(prepared.declarations, prepared.statement, p[1:])
            return self._run(ctx, prepared.statement, bound, [], more, first_value=1)
        if name == "sp_unprepare":
            wanted = _int(p[0] if p else None)
            if wanted is None or self.handles.pop(wanted, None) is None:
                raise RpcError(8179, f"Could not find prepared statement with handle {wanted}.", 16)
            return tk.returnstatus(0) + tk.done(tk.DONE_MORE if more else tk.DONE_FINAL, token=tk.DONEPROC, curcmd=CURCMD_EXECUTE)
        if name in ("sp_datatype_info_100", "sp_datatype_info"):
            odbc_type = p[0].value if p and isinstance(p[0].value, int) else 0
            return (
                datatype_info(int(odbc_type))
                + tk.returnstatus(0)
                + tk.done(tk.DONE_MORE if more else tk.DONE_FINAL, token=tk.DONEPROC, curcmd=CURCMD_EXECUTE)
            )
        if name in _ENGINE_PROCEDURES:  # run by the SQL engine: the call becomes EXEC <name> with the same arguments
            args = [(i, Param(f"@__rpc{i}", q.spec, q.value)) for i, q in enumerate(p)]
            listed = ", ".join(f"{q.name} = @__rpc{i}" if q.name else f"@__rpc{i}" for i, q in enumerate(p))
            return self._run(ctx, f"EXEC {name} {listed}", args, [], more, first_value=0)
        if name.startswith("sp_") or call.proc_id is not None:
            raise RpcError(
                40517,
                f"Keyword or statement option 'RPC {name}' is not supported by the azsqlctl sandbox, "
                "which answers only its documented subset of T-SQL.",
            )
        raise RpcError(2812, f"Could not find stored procedure '{name}'.", 16, 62)

    def _run(self, ctx: Any, sql: str, bound: list[tuple[int, Param]], before: list[bytes], more: bool, first_value: int) -> bytes:
        found, ok = self.backend.execute(ctx, sql, [p for _i, p in bound])
        out = bytearray(results.statements(found, self.backend.server_name, tk.DONEINPROC))
        if len(out) >= 13 and out[-13] == tk.DONEINPROC:
            # The procedure goes on after its last statement (RETURNSTATUS, DONEPROC): SQL Server marks
            # that DONEINPROC "more", and clients such as python-tds stop reading at one that is not.
            out[-12] |= tk.DONE_MORE
        status = tk.DONE_MORE if more else tk.DONE_FINAL
        if ok:
            out += tk.returnstatus(0)
            for value in before:
                out += value
            # Output parameters come back with their value after the call; the sandbox's statements
            # never assign to a parameter, so that is the value the client sent.
            for i, param in bound:
                if param.output:
                    out += tk.returnvalue(first_value + i, param.name, param.spec, param.value)
        else:
            status |= tk.DONE_ERROR
        out += tk.done(status, token=tk.DONEPROC, curcmd=CURCMD_EXECUTE)
        return bytes(out)

    def reset(self) -> None:
        """RESETCONNECTION keeps prepared handles (the driver re-prepares what it needs)."""
