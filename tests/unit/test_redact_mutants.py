"""core/redact.py: a secret under a key of several words is found by the words together."""

from __future__ import annotations

from azsqlctl.core.redact import redact


def test_a_key_that_is_secret_only_as_a_whole_phrase_is_redacted() -> None:
    # "Account Key" is secret as a whole ("accountkey"); neither "Key" nor "Account" alone is
    assert redact("Account Key=abc123;Server=x") == "Account Key=<redacted>;Server=x"
    assert redact("Shared Access Key = s3cr3t") == "Shared Access Key = <redacted>"
    assert redact("Key=abc123;Account=x") == "Key=abc123;Account=x"
