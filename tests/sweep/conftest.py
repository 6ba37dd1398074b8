import pytest
import xarray as xr

from .helpers import SLOW, SMALL, run_config


def _reference(tmp_path_factory, text, name):
    out = tmp_path_factory.mktemp(name) / f"{name}.nc"
    run_config(text, out, workers=2, batch_size=4 if name == "small" else 2, in_process=False)
    with xr.open_dataset(out) as ds:
        return ds.load()


@pytest.fixture(scope="session")
def small_reference(tmp_path_factory):
    """The SMALL sweep on a LocalCluster of 2 worker processes: what every other run must
    equal (small sweeps run on threads by default)."""
    return _reference(tmp_path_factory, SMALL, "small")


@pytest.fixture(scope="session")
def slow_reference(tmp_path_factory):
    return _reference(tmp_path_factory, SLOW, "slow")
