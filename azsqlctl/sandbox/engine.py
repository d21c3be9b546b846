"""The sandbox's T-SQL engine now lives in ``sandbox/sql``; this module keeps the old import path.

``split_statements`` splits a batch the way SQL Server does (semicolons optional);
see ``sql/batch.py``.
"""

from __future__ import annotations

from .sql.batch import split
from .sql.connect import VERSION
from .sql.errors import SqlError, unsupported

__all__ = ["VERSION", "SqlError", "split_statements", "unsupported"]


def split_statements(sql: str) -> list[str]:
    """The statements of a batch, split at ';' or where SQL Server's grammar starts a new statement."""
    return [st.text for st in split(sql)]
