"""The one writer of the dataset."""

import xarray as xr

from sweep import dataset


def test_writing_in_memory_data_does_not_ask_dask_for_a_client(tmp_path, small_reference):
    """A failed ``Client(...)`` can leave dask's scheduler set to a client that does not exist;
    xarray asks dask for the scheduler on every write."""
    import dask

    with dask.config.set(scheduler="dask.distributed"):
        dataset.write_dataset(small_reference, tmp_path / "out.nc")
    with xr.open_dataset(tmp_path / "out.nc") as back:
        assert back.success.equals(small_reference.success)
