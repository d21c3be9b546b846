"""The access policy file: app roles, identities and targets, validated whole before any change.

```toml
version = 1
[roles.app_rw]
grants = [{ permissions = ["SELECT", "INSERT", "UPDATE", "DELETE", "EXECUTE"], schema = "app" }]
[identities.orders-api]
type = "app"                           # app (managed identity, service principal), user or group: never guessed
client_id = "..."                      # apps: the client id (their SID); users and groups: object_id
[identities.shop-web]
resource = "/subscriptions/.../providers/Microsoft.Web/sites/shop-web"   # or a userAssignedIdentities id: read from ARM
[[targets]]
databases = ["appdb", "tenant_*"]      # names or globs; servers default to --server
grants = { orders-api = ["app_rw"] }
[[targets]]                            # servers found through Azure Resource Graph (core/grant/fleet.py)
select = { tags = { env = "prod" }, subscriptions = ["..."] }
grants = { orders-api = ["reader"] }   # databases default to "*" (every user database) with select
```
Every problem is reported at once, each with its line.
"""

from __future__ import annotations

import difflib
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import AzsqlctlError, ConfigError
from ..identity import MAX_NAME, IdentitySpec, Kind, name_problems, validate_identity
from .plan import BUILTIN_CUSTOM, ELEVATED, FIXED_ROLES, PRESETS, RoleSpec, SchemaGrant

try:  # tomli is tomllib's parser compiled (mypyc): the same grammar, ~1.8x faster on large policies
    import tomli as toml_parser
except ImportError:  # pragma: no cover - a pure-Python wheel or a platform without one
    import tomllib as toml_parser  # type: ignore[no-redef]

PERMISSIONS = ("SELECT", "INSERT", "UPDATE", "DELETE", "EXECUTE", "REFERENCES", "VIEW DEFINITION")
TOP_KEYS = ("version", "roles", "identities", "targets")
ROLE_KEYS = ("grants",)
ROLE_GRANT_KEYS = ("permissions", "schema")
IDENTITY_KEYS = ("type", "client_id", "object_id", "resource", "name", "sid_mode")
TARGET_KEYS = ("servers", "databases", "grants", "select")
SELECT_KEYS = ("subscriptions", "management_group", "resource_groups", "tags", "locations", "servers")
_KNOWN_SETS: dict[tuple[str, ...], frozenset[str]] = {}
_IDENTITY_KEYS = frozenset(IDENTITY_KEYS)


def did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str:
    """The suffix " (did you mean X?)" for the closest of ``choices`` (difflib, case-insensitive), or ""."""
    by_lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[close[0]]}?)" if close else ""


def _unknown_keys(
    body: Mapping[str, object], known: tuple[str, ...], where: str, line: int, lines: Lines, errors: list[tuple[int, str]]
) -> None:
    """A key this version does not read is an error, never silently ignored (a typo would otherwise grant less or more)."""
    known_set = _KNOWN_SETS.get(known) or _KNOWN_SETS.setdefault(known, frozenset(known))
    if body.keys() <= known_set:  # the usual case: one set comparison
        return
    for key in body:
        if key not in known:
            hint = did_you_mean(key, known) or f" (known keys: {', '.join(known)})"
            errors.append((lines.key(line, key), f"{where}unknown key {key}{hint}"))


@dataclass
class Target:
    servers: list[str]  # empty: the command's --server
    databases: list[str]  # names or globs
    grants: dict[str, list[str]]  # identity -> roles
    line: int = 0
    select: FleetSelector | None = None  # servers found through Azure Resource Graph instead of ``servers``


@dataclass(frozen=True)
class FleetSelector:
    """``select = { tags = { env = "prod" }, subscriptions = [...] }``: which servers Resource Graph should find.

    Every given criterion must hold (and); the lists inside one are alternatives (or). Names are globs.
    Tags match the database's own tags or its server's. No subscriptions or management group: every
    subscription the caller can read."""

    subscriptions: tuple[str, ...] = ()
    management_group: str = ""
    resource_groups: tuple[str, ...] = ()  # names or globs
    tags: tuple[tuple[str, str], ...] = ()  # (key, value): the value compares case-insensitively, as =~
    locations: tuple[str, ...] = ()
    servers: tuple[str, ...] = ()  # logical server names or globs


def parse_selector(value: object, where: str, line: int, lines: Lines, errors: list[tuple[int, str]]) -> FleetSelector | None:
    """A target's ``select`` table, validated; problems appended to ``errors`` with the line."""
    at = lines.key(line, "select")
    if not isinstance(value, dict):
        errors.append((at, f'{where}select must be a table, e.g. select = {{ tags = {{ env = "prod" }} }}'))
        return None
    body = _table(value)
    _unknown_keys(body, SELECT_KEYS, f"{where}select: ", line, lines, errors)

    def names(key: str) -> tuple[str, ...]:
        raw = body.get(key, [])
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not all(isinstance(v, str) and v.strip() for v in raw):
            errors.append((at, f"{where}select.{key} must be a list of names"))
            return ()
        return tuple(str(v) for v in raw)

    subs = names("subscriptions")
    for sub in subs:
        try:
            uuid.UUID(sub)
        except ValueError:
            errors.append((at, f"{where}select.subscriptions: '{sub}' is not a subscription id (a GUID)"))
    group = body.get("management_group", "")
    if not isinstance(group, str):
        errors.append((at, f"{where}select.management_group must be a management group id"))
        group = ""
    if subs and group:
        errors.append((at, f"{where}select: subscriptions and management_group do not combine (Resource Graph takes one scope)"))
    tags_raw = body.get("tags", {})
    tags: list[tuple[str, str]] = []
    if not isinstance(tags_raw, dict) or not all(isinstance(v, str) for v in tags_raw.values()):
        errors.append((at, f'{where}select.tags must be a table of strings, e.g. tags = {{ env = "prod" }}'))
    else:
        tags = [(str(k), str(v)) for k, v in tags_raw.items()]
    selector = FleetSelector(subs, group, names("resource_groups"), tuple(tags), names("locations"), names("servers"))
    if selector == FleetSelector():
        errors.append((at, f"{where}select is empty: name subscriptions, a management group, resource groups, tags, locations or servers"))
    return selector


@dataclass
class Policy:
    roles: dict[str, RoleSpec] = field(default_factory=dict)
    identities: dict[str, IdentitySpec] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    source: Lines | None = None  # the text's lines: an identity's line is looked up only for a message
    path: str = ""

    def identity_line(self, name: str) -> int:
        """The line of ``[identities.NAME]`` (0 when unknown), for a message about that identity."""
        return self.source.header("identities", name) if self.source else 0


class _CountedLines:
    """The text's lines; every line read is counted (``reads``), however the reader walks them."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines
        self.reads = 0

    def __len__(self) -> int:
        return len(self._lines)

    def __getitem__(self, i: int) -> str:
        self.reads += 1
        return self._lines[i]

    def __iter__(self) -> Iterator[str]:
        for line in self._lines:
            self.reads += 1
            yield line

    def all(self) -> list[str]:
        """Every line, uncounted: the caller counts its own pass."""
        return self._lines


class Lines:
    """Finds the line of a table header or a key in TOML text, for error messages.

    A valid policy needs only its few role and target headers' lines: each is found by one regex
    search over the text (at most ``DIRECT_SEARCHES`` of them). The first lookup past that, and any
    key lookup (an error to report), indexes every header in one pass over the lines; a key is then
    looked for only inside its own table (from its header to the next one), so validating N
    identities reads each line a bounded number of times. ``scanned`` counts the lines read: a test
    compares it at N and 4N identities.
    """

    _HEADER = re.compile(r"^\s*\[\[?(.*?)\]\]?\s*(#.*)?$")
    DIRECT_SEARCHES = 16

    def __init__(self, text: str) -> None:
        self._text = text
        self.lines = _CountedLines(text.splitlines())
        self._headers: dict[tuple[str, ...], list[int]] | None = None
        self._next_header: list[int] = []  # line i -> the first header line after i (or len + 1), once indexed
        self._direct_left = self.DIRECT_SEARCHES
        self._found: dict[tuple[str, ...], list[int]] = {}

    @property
    def scanned(self) -> int:
        return self.lines.reads

    def _index(self) -> dict[tuple[str, ...], list[int]]:
        if self._headers is not None:
            return self._headers
        raw = self.lines.all()
        self.lines.reads += len(raw)  # this pass reads each line once
        headers: dict[tuple[str, ...], list[int]] = {}
        self._next_header = [0] * (len(raw) + 2)
        following = len(raw) + 1
        for i in range(len(raw), 0, -1):
            self._next_header[i] = following
            line = raw[i - 1]
            first = line[:1]
            parts = _header_parts(line) if first == "[" or (first in (" ", "\t") and line.lstrip()[:1] == "[") else None
            if parts is not None:
                following = i
                headers.setdefault(parts, []).append(i)
        self._next_header[0] = following
        for found in headers.values():
            found.reverse()
        self._headers = headers
        return headers

    def _search(self, parts: tuple[str, ...]) -> list[int]:
        """The lines of every header named ``parts``, by one regex search over the text (no index)."""
        if parts not in self._found:
            name = r"\.".join(r'[ \t]*"?' + re.escape(p) + r'"?[ \t]*' for p in parts)
            pattern = re.compile(r"^[ \t]*\[\[?" + name + r"\]\]?[ \t]*(?:#[^\n]*)?\r?$", re.MULTILINE)
            self.lines.reads += len(self.lines)  # a search reads the whole text once
            found: list[int] = []
            line, previous = 1, 0
            for m in pattern.finditer(self._text):
                # Both ends of the chunk are line starts: splitlines counts the lines between, as the index would.
                line += len(self._text[previous : m.start()].splitlines())
                previous = m.start()
                found.append(line)
            self._found[parts] = found
        return self._found[parts]

    def header(self, *parts: str, nth: int = 0) -> int:
        if self._headers is None and (self._direct_left > 0 or tuple(parts) in self._found):
            if tuple(parts) not in self._found:
                self._direct_left -= 1
            found = self._search(tuple(parts))
        else:
            found = self._index().get(tuple(parts), [])
        return found[nth] if nth < len(found) else 0

    def key(self, start: int, key: str) -> int:
        self._index()
        first = max(start, 1)
        end = self._next_header[first] if first <= len(self.lines) else first
        if start == 0:
            end = self._next_header[0]
        bare = re.compile(r'^\s*"?' + re.escape(key) + r'"?\s*=')
        inline = re.compile(r'[{,]\s*"?' + re.escape(key) + r'"?\s*=')
        for i in range(first, min(end, len(self.lines) + 1)):
            line = self.lines[i - 1]
            if bare.match(line) or inline.search(line):
                return i
        return start


def _header_parts(line: str) -> tuple[str, ...] | None:
    # A plain header ([a.b] or [[a]]: no quotes, spaces, comment or stray brackets) splits without the regex.
    inner = line[2:-2] if line.startswith("[[") and line.endswith("]]") else line[1:-1] if line.endswith("]") else None
    if inner is not None and line[:1] == "[" and not any(c in inner for c in '[]"# \t'):
        return tuple(inner.split("."))
    m = Lines._HEADER.match(line)
    if not m:
        return None
    return tuple(p.strip().strip('"') for p in m[1].split("."))


def _raise(name: str, errors: list[tuple[int, str]]) -> None:
    listing = "; ".join(f"line {line}: {msg}" if line else msg for line, msg in errors)
    raise ConfigError(
        f"{name} has {len(errors)} error{'s' if len(errors) != 1 else ''}: {listing}",
        "fix them all, then re-run; nothing was changed",
        code="policy_invalid",
        details={"errors": [{"line": line, "message": msg} for line, msg in errors]},
    )


def resolve_resources(policy: Policy, resolve: Callable[[str], IdentitySpec]) -> None:
    """Fill in identities named by ``resource = ARM_ID`` (``resolve`` asks ARM); every failure listed with its line."""
    errors: list[tuple[int, str]] = []
    for key, spec in policy.identities.items():
        if not spec.source or spec.client_id or spec.object_id:
            continue
        try:
            found = resolve(spec.source)
        except AzsqlctlError as exc:
            errors.append((policy.identity_line(key), f"identity {key}: {exc.message}"))
            continue
        policy.identities[key] = replace(found, name=spec.name, sid_mode=spec.sid_mode)
    if errors:
        _raise(policy.path, errors)


def load_policy(path: Path, allow_elevated: bool) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read policy {path}: {exc.strerror}", "check the path") from None
    try:
        data = toml_parser.loads(text)
    except toml_parser.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: {exc}", "fix the TOML syntax", code="policy_invalid") from None
    policy, errors = parse_policy(data, Lines(text), allow_elevated)
    policy.path = path.name
    if errors:
        _raise(path.name, errors)
    return policy


def _table(value: object) -> dict[str, object]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def _array(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def parse_policy(data: Mapping[str, object], lines: Lines, allow_elevated: bool) -> tuple[Policy, list[tuple[int, str]]]:
    errors: list[tuple[int, str]] = []
    policy = Policy(source=lines)
    if data.get("version", 1) != 1:
        errors.append((lines.key(1, "version"), f"unsupported version {data.get('version')!r} (this azsqlctl reads version 1)"))
    _unknown_keys(data, TOP_KEYS, "", 1, lines, errors)
    for key, want, shape in (("roles", dict, "a table"), ("identities", dict, "a table"), ("targets", list, "an array of tables")):
        if key in data and not isinstance(data[key], want):
            errors.append((lines.key(1, key), f"{key} must be {shape}"))
    for name, body in _table(data.get("roles")).items():
        line = lines.header("roles", name)
        grants = []
        _unknown_keys(_table(body), ROLE_KEYS, f"role {name}: ", line, lines, errors)
        for g in _array(_table(body).get("grants")):
            grant = _table(g)
            _unknown_keys(grant, ROLE_GRANT_KEYS, f"role {name} grants: ", lines.key(line, "grants"), lines, errors)
            perms = tuple(str(p).upper() for p in _array(grant.get("permissions")))
            bad = [p for p in perms if p not in PERMISSIONS]
            if bad or not perms:
                errors.append(
                    (
                        lines.key(line, "grants"),
                        f"role {name}: unknown or missing permissions {bad or '[]'} (allowed: {', '.join(PERMISSIONS)})",
                    )
                )
            grants.append(SchemaGrant(perms, str(grant.get("schema", ""))))
        if name.lower() in PRESETS or name in FIXED_ROLES or len(name) > MAX_NAME:
            errors.append((line, f"role {name}: the name is reserved or too long"))
        policy.roles[name] = RoleSpec(name, tuple(grants))
    seen_ids: dict[str, str] = {}
    not_identities = tuple(policy.roles) + tuple(BUILTIN_CUSTOM)  # names an identity may not take
    for name, body in _table(data.get("identities")).items():
        # Its header's line only if there is something to report (a valid policy of 60,000 identities needs none).
        def at(name: str = name) -> int:
            return lines.header("identities", name)

        if not isinstance(body, dict):
            errors.append((at(), f"identity {name}: expected a table"))
            continue
        if not body.keys() <= _IDENTITY_KEYS:  # checked here: a call per identity costs more than the check
            _unknown_keys(body, IDENTITY_KEYS, f"identity {name}: ", at(), lines, errors)
        client_id, object_id = str(body.get("client_id", "")), str(body.get("object_id", ""))
        resource = str(body.get("resource", ""))
        # Only apps have a client id, so one implies the type; an object id alone says nothing.
        kind = str(body.get("type", Kind.APP.value if client_id or resource else ""))
        spec = IdentitySpec(
            name=str(body.get("name", name)), kind=kind, client_id=client_id,
            object_id=object_id, sid_mode=bool(body.get("sid_mode", False)), source=resource,
        )  # fmt: skip
        if resource:  # resolved through ARM after validation, before any database
            problems = name_problems(spec.name, not_identities)
            if client_id or object_id or kind != Kind.APP:
                problems.append("resource names a managed identity: it replaces type, client_id and object_id")
            if not resource.lower().startswith("/subscriptions/") or "/providers/" not in resource.lower():
                problems.append(f"resource '{resource}' is not an ARM resource id (az identity show -n NAME -g GROUP --query id)")
            for problem in problems:
                errors.append(
                    (lines.key(at(), "name" if problem.startswith(("the name", "'")) else "resource"), f"identity {name}: {problem}")
                )
            policy.identities[name] = spec
            continue
        for problem in validate_identity(spec, not_identities):
            key = (
                "client_id" if "client id" in problem
                else "object_id" if "object id" in problem
                else "name" if problem.startswith(("the name", "'")) else "type"
            )  # fmt: skip
            errors.append((lines.key(at(), key), f"identity {name}: {problem}"))
        for label, value in (("SID", spec.sid), ("object id", spec.object_id)):
            if value and value.lower() in seen_ids:
                errors.append((at(), f"identity {name}: duplicate of identity {seen_ids[value.lower()]} (same {label} {value})"))
                break
        for value in (spec.sid, spec.object_id):
            if value:
                seen_ids.setdefault(value.lower(), name)
        policy.identities[name] = spec
    role_names = [*PRESETS, *FIXED_ROLES, *policy.roles, *BUILTIN_CUSTOM]
    known_roles = {r.lower() for r in role_names}
    for k, item in enumerate(_array(data.get("targets"))):
        line = lines.header("targets", nth=k)
        body = _table(item)
        _unknown_keys(body, TARGET_KEYS, f"target {k + 1}: ", line, lines, errors)
        databases = [str(d) for d in _array(body.get("databases"))]
        select = parse_selector(body["select"], f"target {k + 1}: ", line, lines, errors) if "select" in body else None
        if select is not None and "databases" not in body:
            databases = ["*"]  # every user database of the servers Resource Graph finds
        if select is not None and "servers" in body:
            errors.append((lines.key(line, "servers"), f"target {k + 1}: servers and select do not combine (select.servers takes globs)"))
        if not databases:
            errors.append((line, f"target {k + 1}: no databases"))
        for name in (d for d in databases if not d.strip() or len(d) > 128):  # sysname: 1..128 characters
            errors.append((lines.key(line, "databases"), f"target {k + 1}: database name {name[:40]!r} is empty or over 128 characters"))
        assigned = {i: [str(r) for r in _array(roles)] for i, roles in _table(body.get("grants")).items()}
        for ident, roles in assigned.items():
            if ident not in policy.identities:
                errors.append((lines.key(line, "grants"), f"target {k + 1}: unknown identity {ident}"))
            for role in roles:
                if role.lower() not in known_roles:
                    errors.append(
                        (
                            lines.key(line, "grants"),
                            f"target {k + 1}: unknown role {role} for {ident}{did_you_mean(role, role_names)} "
                            f"(presets: {', '.join(PRESETS)}; or define [roles.{role}])",
                        )
                    )
                elif role in ELEVATED and not allow_elevated:
                    errors.append((lines.key(line, "grants"), f"target {k + 1}: elevated role {role} for {ident} needs --allow-elevated"))
        policy.targets.append(Target([str(s) for s in _array(body.get("servers"))], databases, assigned, line, select))
    if not policy.targets:
        errors.append((0, "no [[targets]]: nothing to apply"))
    return policy, errors
