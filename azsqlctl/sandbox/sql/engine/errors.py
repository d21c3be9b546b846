"""SQL Server's error numbers and texts for what the sandbox's T-SQL front end refuses.

Texts are the engine's message templates (sys.messages / the "Database engine events
and errors" pages), filled in the way SQL Server fills them, so a client matching on
number or text sees what Azure SQL would send.
"""

from __future__ import annotations

# Errors that end only the statement: the batch goes on (SQL Server's statement-level
# abort), unless XACT_ABORT is ON. Every other error aborts the whole batch.
STATEMENT_LEVEL = frozenset(
    {
        229,
        230,
        262,
        515,
        1222,
        544,
        547,
        1505,
        1913,
        2601,
        2627,
        3723,
        3728,
        4922,
        5074,
        2628,
        2714,
        2760,
        3701,
        3726,
        3729,
        4712,
        8134,
        3902,
        3903,
    }
)


class SqlError(Exception):
    def __init__(self, number: int, message: str, severity: int = 16, state: int = 1) -> None:
        super().__init__(message)
        self.number, self.message, self.severity, self.state = number, message, severity, state


def unsupported(what: str) -> SqlError:
    # 40517 is Azure SQL's "Keyword or statement option '%.*ls' is not supported in this version
    # of SQL Server."; the sandbox names itself so nobody mistakes its limits for Azure's.
    return SqlError(
        40517,
        f"Keyword or statement option '{what}' is not supported by the azsqlctl sandbox, which answers only its documented subset of T-SQL.",
    )


def syntax(near: str) -> SqlError:
    return SqlError(102, f"Incorrect syntax near '{near}'.", 15)


def keyword_syntax(keyword: str) -> SqlError:
    return SqlError(156, f"Incorrect syntax near the keyword '{keyword}'.", 15)


def invalid_column(name: str) -> SqlError:
    return SqlError(207, f"Invalid column name '{name}'.")


def invalid_object(name: str) -> SqlError:
    return SqlError(208, f"Invalid object name '{name}'.")


def ambiguous_column(name: str) -> SqlError:
    return SqlError(209, f"Ambiguous column name '{name}'.")


def multipart_unbound(name: str) -> SqlError:
    return SqlError(4104, f'The multi-part identifier "{name}" could not be bound.')


def undeclared_table_variable(name: str) -> SqlError:
    return SqlError(1087, f'Must declare the table variable "{name}".', 15, 2)


def must_declare(name: str) -> SqlError:
    return SqlError(137, f'Must declare the scalar variable "{name}".', 15, 2)


def conversion(value: str, source: str, target: str) -> SqlError:
    return SqlError(245, f"Conversion failed when converting the {source} value '{value}' to data type {target}.")


def divide_by_zero() -> SqlError:
    return SqlError(8134, "Divide by zero error encountered.")


def overflow(target: str) -> SqlError:
    return SqlError(8115, f"Arithmetic overflow error converting expression to data type {target}.")


def numeric_conversion(source: str, target: str) -> SqlError:
    return SqlError(8114, f"Error converting data type {source} to {target}.")


def datetime_conversion() -> SqlError:
    return SqlError(241, "Conversion failed when converting date and/or time from character string.")


def guid_conversion() -> SqlError:
    return SqlError(8169, "Conversion failed when converting from a character string to uniqueidentifier.")


def foreign_key_conflict(verb: str, reference: bool, constraint: str, database: str, table: str, columns: list[str]) -> SqlError:
    return constraint_conflict(verb, "REFERENCE" if reference else "FOREIGN KEY", constraint, database, table, columns)


def constraint_conflict(verb: str, kind: str, constraint: str, database: str, table: str, columns: list[str]) -> SqlError:
    """547: a row breaks a FOREIGN KEY, REFERENCE or CHECK constraint (the column is named when the constraint has one)."""
    column = f", column '{columns[0]}'" if len(columns) == 1 else ""
    return SqlError(
        547,
        f'The {verb} statement conflicted with the {kind} constraint "{constraint}". The conflict occurred in database "{database}", table "{table}"{column}.',
    )


def duplicate_index_row(table: str, index: str, value: str) -> SqlError:
    return SqlError(
        2601, f"Cannot insert duplicate key row in object '{table}' with unique index '{index}'. The duplicate key value is ({value}).", 14
    )


def duplicate_key(kind: str, constraint: str, table: str, value: str) -> SqlError:
    return SqlError(
        2627,
        f"Violation of {kind} constraint '{constraint}'. Cannot insert duplicate key in object '{table}'. The duplicate key value is ({value}).",
        14,
    )


def null_into_not_null(column: str, table: str, verb: str) -> SqlError:
    return SqlError(
        515, f"Cannot insert the value NULL into column '{column}', table '{table}'; column does not allow nulls. {verb} fails.", 16, 2
    )


def truncated(table: str, column: str, value: str) -> SqlError:
    return SqlError(
        2628, f"String or binary data would be truncated in table '{table}', column '{column}'. Truncated value: '{value}'.", 16
    )


def object_exists(name: str) -> SqlError:
    return SqlError(2714, f"There is already an object named '{name}' in the database.", 16, 6)


def cannot_drop_table(name: str) -> SqlError:
    return SqlError(3701, f"Cannot drop the table '{name}', because it does not exist or you do not have permission.", 11, 5)


def schema_unusable(name: str) -> SqlError:
    return SqlError(2760, f'The specified schema name "{name}" either does not exist or you do not have permission to use it.', 16)


def schema_in_use(schema: str, obj: str) -> SqlError:
    return SqlError(3729, f"Cannot drop schema '{schema}' because it is being referenced by object '{obj}'.", 16)


def permission_denied(permission: str, obj: str, database: str, schema: str) -> SqlError:
    return SqlError(229, f"The {permission} permission was denied on the object '{obj}', database '{database}', schema '{schema}'.", 14, 5)


def database_permission_denied(permission: str, database: str) -> SqlError:
    return SqlError(262, f"{permission} permission denied in database '{database}'.", 14)


def identity_insert(table: str) -> SqlError:
    return SqlError(544, f"Cannot insert explicit value for identity column in table '{table}' when IDENTITY_INSERT is set to OFF.", 16)


def no_begin(verb: str) -> SqlError:
    return SqlError(3902 if verb == "COMMIT" else 3903, f"The {verb} TRANSACTION request has no corresponding BEGIN TRANSACTION.", 16)


def lock_timeout() -> SqlError:
    return SqlError(1222, "Lock request time out period exceeded.")


def unclosed_quote(rest: str) -> SqlError:
    return SqlError(105, f"Unclosed quotation mark after the character string '{rest}'.", 15)


def use_database() -> SqlError:
    return SqlError(
        40508, "USE statement is not supported to switch between databases. Use a new connection to connect to a different database."
    )


def cross_database(name: str) -> SqlError:
    return SqlError(40515, f"Reference to database and/or server name in '{name}' is not supported in this version of SQL Server.", 15)
