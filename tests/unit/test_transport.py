"""Transport failures (issue 15, point 3): one table from cause to error and exit code, each naming its endpoint."""

from __future__ import annotations

import errno
import socket
import ssl

import pytest
from azure.core.credentials import AccessToken

from azsqlctl.azure.transport import DeadlineExceeded, call_with_deadline, classify, endpoint_failure
from azsqlctl.core.errors import ConnectionFailed, ExitCode
from azsqlctl.core.transport import CAUSES, ENDPOINTS, Cause, Endpoint, transport_failure


def test_every_endpoint_and_cause_has_a_row_and_none_is_a_bug() -> None:
    assert set(ENDPOINTS) == set(Endpoint) and set(CAUSES) == set(Cause)
    for endpoint in Endpoint:
        for cause in Cause:
            err = transport_failure(endpoint, "https://example.invalid:1", cause, "detail", timeout=7)
            assert err.exit_code == ExitCode.CONNECTION
            assert err.message.startswith(f"{ENDPOINTS[endpoint].title} at https://example.invalid:1 ")
            assert err.code == f"{endpoint.value}_{cause.value}" and err.hint
            assert err.details == {"endpoint": endpoint.value, "url": "https://example.invalid:1", "cause": cause.value}
    assert "within 7 s" in transport_failure(Endpoint.ARM, "u", Cause.TIMEOUT, timeout=7).message


def _wrapped(inner: BaseException, outer: type[Exception] = ConnectionError) -> Exception:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer("HTTPSConnectionPool(host='x', port=1): Max retries exceeded") from exc
    except Exception as exc:
        return exc


@pytest.mark.parametrize(
    ("inner", "cause"),
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), Cause.DNS),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), Cause.REFUSED),
        (TimeoutError("timed out"), Cause.TIMEOUT),
        (ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), Cause.TLS),
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), Cause.RESET),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), Cause.UNREACHABLE),
    ],
)
def test_exception_chains_are_classified_by_type(inner: BaseException, cause: Cause) -> None:
    found = classify(_wrapped(inner))
    assert found is not None and found[0] is cause


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        (
            "DefaultAzureCredential failed to retrieve a token from the included credentials.\nAttempted credentials:\n"
            "\tEnvironmentCredential: EnvironmentCredential authentication unavailable.\n"
            "\tManagedIdentityCredential: HTTPConnection(host='127.0.0.1', port=1): Failed to establish a new connection: "
            "[Errno 111] Connection refused",
            Cause.REFUSED,
        ),
        ("ManagedIdentityCredential: HTTPConnectionPool(host='127.0.0.1', port=9): Read timed out. (read timeout=2)", Cause.TIMEOUT),
        ("Failed to resolve 'nope.invalid' ([Errno -2] Name or service not known)", Cause.DNS),
    ],
)
def test_azure_identity_texts_are_classified_and_the_failing_line_is_the_detail(text: str, cause: Cause) -> None:
    found = classify(RuntimeError(text))
    assert found is not None and found[0] is cause
    assert "Credential failed to retrieve" not in found[1]


def test_an_answer_from_the_service_is_not_a_transport_failure() -> None:
    assert classify(RuntimeError("AADSTS700016: Application not found in the directory"), by_text=False) is None
    assert classify(ValueError("(AuthorizationFailed) The client does not have authorization")) is None


def test_an_unclassified_sdk_failure_still_names_the_endpoint() -> None:
    err = endpoint_failure(Endpoint.LOGS, "https://api.loganalytics.io", RuntimeError("something odd"))
    assert err.exit_code == ExitCode.CONNECTION and err.message.startswith("Log Analytics at https://api.loganalytics.io")


def test_deadline_returns_results_raises_errors_and_gives_up_in_time() -> None:
    assert call_with_deadline(lambda: 42, 1) == 42
    empty: dict[str, int] = {}
    with pytest.raises(KeyError):
        call_with_deadline(lambda: empty["x"], 1)
    import threading

    never = threading.Event()
    with pytest.raises(DeadlineExceeded):
        call_with_deadline(lambda: never.wait(5), 0.05)
    never.set()


class _Slow:
    """A token source that takes its time, like an endpoint that accepted and stalls."""

    def get_token(
        self, *scopes: str, claims: str | None = None, tenant_id: str | None = None, enable_cae: bool = False, **kwargs: object
    ) -> AccessToken:
        import time

        time.sleep(0.3)
        return AccessToken("t", 0)


class DeviceCodeCredential(_Slow):
    """Named as azure-identity's: it waits for a person, which --timeout must not cut."""


def test_a_token_request_is_cut_at_the_timeout_unless_a_person_is_signing_in() -> None:
    from azsqlctl.azure.credentials import get_token

    with pytest.raises(ConnectionFailed) as err:  # no authority URL: no connect probe (no sockets in unit tests)
        get_token(_Slow(), "https://database.windows.net/.default", 0.05)
    assert err.value.code == "token_timeout" and err.value.message.startswith("the token endpoint did not answer within 0.05 s")
    assert get_token(DeviceCodeCredential(), "https://database.windows.net/.default", 0.05).token == "t"
