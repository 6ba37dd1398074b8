"""The mutation check's quick part, run with the suite: deliberate mistakes that the
tests must catch (``tests/mutations.py`` lists them all and runs the rest by hand)."""

import pytest

from tests import mutations


@pytest.mark.parametrize("name", mutations.QUICK)
def test_the_suite_catches_the_mistake(name):
    (mutation,) = [m for m in mutations.MUTATIONS if m.name == name]
    said = []
    assert mutations.run(mutation, log=said.append), said


def test_every_mutation_still_finds_its_place_and_its_tests():
    """A restructured module must carry its mutations along: each one's text is found once
    in its file, and each test it names exists (a mutation that cannot apply kills nothing)."""
    root = mutations.ROOT
    for m in mutations.MUTATIONS:
        assert (root / m.path).read_text().count(m.old) == 1, f"{m.name}: {m.old!r} is not found once in {m.path}"
        for test in m.tests:
            path, _, name = test.partition("::")
            assert (root / path).is_file(), f"{m.name}: {path} does not exist"
            assert not name or f"def {name.split('[')[0]}(" in (root / path).read_text(), f"{m.name}: no {test}"
