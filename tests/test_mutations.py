"""The mutation check's quick part, run with the suite: deliberate mistakes that the
tests must catch (``tests/mutations.py`` lists them all and runs the rest by hand)."""

import pytest

from tests import mutations


@pytest.mark.parametrize("name", mutations.QUICK)
def test_the_suite_catches_the_mistake(name):
    (mutation,) = [m for m in mutations.MUTATIONS if m.name == name]
    said = []
    assert mutations.run(mutation, log=said.append), said
