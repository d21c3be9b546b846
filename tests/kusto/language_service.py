"""A client of validate.js: Microsoft's Kusto language service (@kusto/language-service-next) in a node process."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests import npm_trees

HERE = Path(__file__).parent


class Validator:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [npm_trees.node(), str(HERE / "validate.js")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            cwd=HERE,
        )
        self.count = 0

    def check(self, queries: list[str], *, strings: bool = False) -> list[dict[str, Any]]:
        """Diagnostics of each query; with ``strings``, also its string literals as the service decodes them."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        for i, q in enumerate(queries):
            self.proc.stdin.write(json.dumps({"id": i, "query": q, "strings": strings}) + "\n")
        self.proc.stdin.flush()
        out = [json.loads(self.proc.stdout.readline()) for _ in queries]
        assert [o["id"] for o in out] == list(range(len(queries)))
        self.count += len(queries)
        return out

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
