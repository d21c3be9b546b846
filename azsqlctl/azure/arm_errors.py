"""What ARM answered, in the house style: the one 401/403 mapping and the one reading of SDK values.

Every ARM caller (azure-mgmt-sql, azure-mgmt-monitor, Resource Graph and the REST reader doctor uses) maps
a refusal here, so "ARM refused the request" always comes with the same hint.
"""

from __future__ import annotations

from collections.abc import Mapping

from azsqlctl.core.errors import AzsqlctlError, PermissionDenied


def wire_text(value: object) -> str:
    """A field as its wire text: SDK enums are str subclasses whose str() is 'Class.MEMBER'; None is ""."""
    return str(getattr(value, "value", value) or "")


def first_line(exc: BaseException) -> str:
    """An SDK exception's message, first line (its type's name when it has no text)."""
    return str(getattr(exc, "message", None) or exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def exception_message(exc: BaseException) -> str:
    """``(Code) message`` from an azure-core HttpResponseError's parsed ARM error, else its first line."""
    error = getattr(exc, "error", None)
    if error is not None and getattr(error, "code", None):
        return f"({error.code}) {error.message}"
    return first_line(exc)


def body_message(body: Mapping[str, object]) -> str:
    """``(Code) message`` from an ARM error body (``{"error": {"code", "message"}}``)."""
    error = body.get("error")
    if isinstance(error, dict) and error.get("code"):
        return f"({error['code']}) {error.get('message', '')}"
    return "no error detail"


def arm_refusal(status: int | None, message: str) -> AzsqlctlError:
    """The one mapping of a failed ARM request: 401/403 is a missing role, anything else a failure to show."""
    if status in (401, 403):
        return PermissionDenied(f"ARM refused the request: {message}", "the identity needs Reader on the server (or its resource group)")
    return AzsqlctlError(f"ARM request failed: {message}", "rerun with --debug for the HTTP exchange")


def arm_failure(exc: BaseException) -> AzsqlctlError:
    """An SDK's HttpResponseError from ARM, mapped."""
    status = getattr(exc, "status_code", None)
    return arm_refusal(status if isinstance(status, int) else None, exception_message(exc))
