"""core/jsonlimits.py: JSON from outside within a size and a depth limit, brackets in strings not counted."""

from __future__ import annotations

import pytest

from azsqlctl.core.jsonlimits import MAX_DEPTH, JsonRejected, depth, loads


def test_depth_counts_objects_and_arrays_at_their_deepest() -> None:
    assert MAX_DEPTH == 64
    assert depth("1") == 0
    assert depth("[]") == 1
    assert depth("{}") == 1
    assert depth('{"a": [1, {"b": []}]}') == 4
    assert depth("[[]][[[]]][]") == 3  # the deepest, not the last or the sum
    assert depth(b"[[1]]") == 2
    assert depth("{}{}{}") == depth("[][][]") == 1  # both closers close
    assert depth('["\ud800"]') == 1  # a lone surrogate (surrogateescape-decoded input) is counted, not an error


def test_brackets_inside_strings_and_escapes_do_not_count() -> None:
    assert depth('["[[[{{{"]') == 1
    assert depth(r'["a\"[[[", []]') == 2  # an escaped quote does not end the string
    assert depth(r'["a\\", [[]]]') == 3  # an escaped backslash does not escape the quote after it
    assert depth('"]]]]" [ ]') == 1


def test_loads_parses_within_the_limits_and_refuses_beyond() -> None:
    assert loads('{"a": [1]}', max_bytes=10) == {"a": [1]}
    with pytest.raises(JsonRejected, match=r"^JSON text of 11 bytes is over the 10-byte limit$"):
        loads('{"a": [1] }', max_bytes=10)
    nested = "[" * 64 + "]" * 64
    assert loads(nested, max_bytes=1000) == loads(nested, max_bytes=1000, max_depth=64)
    with pytest.raises(JsonRejected, match=r"^JSON nested deeper than 64 levels$"):
        loads("[" + nested + "]", max_bytes=1000)
    with pytest.raises(JsonRejected, match=r"^JSON nested deeper than 2 levels$"):
        loads("[[[]]]", max_bytes=1000, max_depth=2)
    assert loads("[[]]", max_bytes=1000, max_depth=2) == [[]]


def test_not_json_is_rejected_not_raised_raw() -> None:
    with pytest.raises(JsonRejected, match=r"^not valid JSON: "):
        loads("{nope", max_bytes=100)
    with pytest.raises(JsonRejected, match=r"^not valid JSON: "):
        loads(b"\xff\xfe\x00", max_bytes=100)
