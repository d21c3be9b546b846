"""The sandbox's secrets on disk: 0600 files in a 0700 directory, from the moment they exist.

Run under umask 0 (the worst a user can have), so nothing is narrowed by the umask by luck. An
audit hook in the sandbox's process records every open and chmod: a secret created wider and
narrowed afterwards (write, then chmod) shows up as a chmod, or as an open without O_EXCL.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

PROBE = r"""
import json, os, sys
from pathlib import Path
events = []
watched = ("signing-key.pem", "sandbox-server.key", "state.json", "state.audit.sqlite")

def hook(event, args):
    if event in ("open", "os.chmod") and isinstance(args[0], (str, bytes, os.PathLike)):
        name = os.path.basename(os.fsdecode(args[0]))
        if name.lstrip(".").startswith(watched):
            events.append([event, name, args[1] if event == "os.chmod" else args[2]])

sys.addaudithook(hook)
os.umask(0)
import time
from azsqlctl.sandbox.monitor.audit import LoginEvent
from azsqlctl.sandbox.serve import Sandbox
state = Path(sys.argv[1]) / "fresh" / "state.json"
with Sandbox(state) as sb:
    sb.store.audit.append(LoginEvent(time.time(), False, "nobody", "appdb", "127.0.0.1", "probe", "host", error=18456))
    sb.store.audit.flush()
print(json.dumps(events))
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_state_and_audit_are_private_from_creation_under_umask_0(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = json.loads(proc.stdout.strip().splitlines()[-1])
    base = tmp_path / "fresh"
    material = base / ".azsqlctl-sandbox"
    assert _mode(base) == 0o700 and _mode(material) == 0o700
    for path in (material / "signing-key.pem", material / "sandbox-server.key", base / "state.json", base / "state.audit.sqlite"):
        assert _mode(path) == 0o600, (path, oct(_mode(path)))
    assert _mode(material / "sandbox-ca.pem") == 0o644  # public: clients read it
    assert [e for e in events if e[0] == "os.chmod"] == []  # never created wider and narrowed afterwards
    creating = [e for e in events if e[0] == "open" and isinstance(e[2], int) and e[2] & os.O_CREAT]
    assert creating, events
    assert all(e[2] & os.O_EXCL for e in creating), creating  # each secret (or its temp file) made new, 0600, by us
    assert not [p for p in base.rglob("*") if ".azsqlctl-tmp." in p.name]  # no temp file left behind


def test_an_older_wider_audit_store_and_material_dir_are_narrowed(tmp_path: Path) -> None:
    import time

    from azsqlctl.sandbox.monitor.audit import LoginEvent
    from azsqlctl.sandbox.serve import Sandbox

    def one_refusal(sb: Sandbox) -> None:
        sb.store.audit.append(LoginEvent(time.time(), False, "nobody", "appdb", "127.0.0.1", "probe", "host", error=18456))
        sb.store.audit.flush()

    chosen = tmp_path / "chosen"
    chosen.mkdir(mode=0o755)
    os.chmod(chosen, 0o755)  # noqa: S103 - a shared directory, as a user may pick
    state = chosen / "state.json"
    with Sandbox(state) as sb:
        one_refusal(sb)
    material = chosen / ".azsqlctl-sandbox"
    os.chmod(chosen / "state.audit.sqlite", 0o644)
    os.chmod(state, 0o644)
    os.chmod(material, 0o755)  # noqa: S103 - as an older azsqlctl left it
    with Sandbox(state) as sb:
        one_refusal(sb)
        with sb.store.mutate() as s:  # the state is saved on a change
            s.token_lifetime = 1800
    assert _mode(chosen / "state.audit.sqlite") == 0o600
    assert _mode(material) == 0o700
    assert _mode(state) == 0o600
    assert _mode(chosen) == 0o755  # a directory the user chose (for --state) is left as it was
