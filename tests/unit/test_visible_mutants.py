"""core/visible.py: the layout-keeping variant keeps LF and TAB only, and nothing printable changes."""

from __future__ import annotations

from azsqlctl.core.visible import visible_keeping_layout


def test_layout_is_kept_everything_else_escaped() -> None:
    assert visible_keeping_layout("a\n\tb\r\x1b\x0b\u202e") == "a\n\tb\\r\\x1b\\x0b\\u202e"
    assert visible_keeping_layout("XYZ x") == "XYZ x"
