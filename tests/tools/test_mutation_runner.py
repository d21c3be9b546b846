"""The mutation runner (tools/mutate.py) on a toy module, and its list of equivalent mutants."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import mutate

TOY = '''"""A toy."""


def clamp(x: int, lo: int, hi: int) -> int:
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x
'''
STRONG = (
    "from toy_mutated import clamp\n\n\ndef test_clamp():\n    assert (clamp(5, 0, 10), clamp(-1, 0, 10), clamp(11, 0, 10)) == (5, 0, 10)\n"
)
WEAK = "from toy_mutated import clamp\n\n\ndef test_clamp():\n    assert clamp(5, 0, 10) == 5\n"


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    path = tmp_path / "toy_mutated.py"
    path.write_text(TOY, encoding="utf-8")
    return path


def outcomes(toy: Path, tests: str, excluded: dict[str, str] | None = None) -> dict[str, bool]:
    test = toy.parent / "test_toy_mutated.py"
    test.write_text(tests, encoding="utf-8")
    return {o.mutant.name.split("::", 1)[1]: o.caught for o in mutate.run(toy, [test], 30.0, excluded or {}, "toy_mutated")}


def test_the_toy_module_mutants(toy: Path) -> None:
    assert [(m.name, m.line) for m in mutate.mutants(toy)] == [
        ("toy_mutated.py::clamp::negate-if#1", 5),
        ("toy_mutated.py::clamp::flip-Lt#1", 5),
        ("toy_mutated.py::clamp::delete#1", 6),
        ("toy_mutated.py::clamp::return-none#1", 6),
        ("toy_mutated.py::clamp::negate-if#2", 7),
        ("toy_mutated.py::clamp::flip-Gt#1", 7),
        ("toy_mutated.py::clamp::delete#2", 8),
        ("toy_mutated.py::clamp::return-none#2", 8),
        ("toy_mutated.py::clamp::delete#3", 9),
        ("toy_mutated.py::clamp::return-none#3", 9),
    ]


def test_strong_tests_catch_every_mutant_and_weak_ones_do_not(toy: Path) -> None:
    assert all(outcomes(toy, STRONG).values())
    survived = sorted(name for name, caught in outcomes(toy, WEAK).items() if not caught)
    assert survived == ["clamp::delete#1", "clamp::delete#2", "clamp::return-none#1", "clamp::return-none#2"]
    assert toy.read_text(encoding="utf-8") == TOY  # the file on disk never changes


def test_excluded_mutants_are_not_run(toy: Path) -> None:
    # all but one excluded: that one alone runs (and survives the weak test), without a child per excluded mutant
    kept = "toy_mutated.py::clamp::delete#1"
    excluded = {m.name: "a reason" for m in mutate.mutants(toy) if m.name != kept}
    assert len(excluded) == 9
    assert outcomes(toy, WEAK, excluded) == {"clamp::delete#1": False}


def test_failing_tests_on_the_unmutated_module_are_refused(toy: Path) -> None:
    with pytest.raises(RuntimeError, match="fail on the unmutated"):
        outcomes(toy, WEAK.replace("== 5", "== 6"))


def test_every_equivalent_mutant_is_named_with_a_reason() -> None:
    listed = mutate.equivalent()
    names: dict[str, set[str]] = {}  # module -> its mutants' names, each module walked once
    for name, reason in listed.items():
        module = name.split("::", 1)[0]
        if module not in names:
            names[module] = {m.name for m in mutate.mutants(mutate.ROOT / module)}
        assert reason, f"{name}: say why it is equivalent"
        assert name in names[module], f"{name} names no mutant any more: remove it"
