"""Opening datasets: lazily with dask, files in the old trace layout, and the parts folder
of a sweep that is running or was interrupted."""

import os
import signal

import numpy as np
import pytest
import xarray as xr

import analysis
from sweep.errors import InputError
from sweep.parts import parts_path
from tests.sweep.helpers import SLOW, SMALL, assert_same_numbers, run_config, sweep_cli, wait_for_parts


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "small.nc"
    run_config(SMALL, out, workers=1, batch_size=3)
    return out


def test_chunks_open_lazily_and_give_the_same_numbers(small):
    lazy = analysis.open_sweep(small, chunks={})
    eager = analysis.open_sweep(small)
    for name in lazy.data_vars:
        assert lazy[name].chunks is not None, name  # dask arrays: nothing read yet
    assert_same_numbers(lazy.load(), eager)
    pd_lazy = analysis.transition_table(analysis.open_sweep(small, chunks={}))
    pd_eager = analysis.transition_table(eager)
    assert pd_lazy.equals(pd_eager)


def test_a_lazy_open_still_checks_the_contract(small, tmp_path):
    bad = tmp_path / "bad.nc"
    with xr.open_dataset(small) as ds:
        ds.drop_vars("success").to_netcdf(bad)
    with pytest.raises(InputError, match="variable 'success' is missing"):
        analysis.open_sweep(bad, chunks={})


def test_files_with_traces_over_every_trial_still_open(small, tmp_path):
    """The old layout: trace over (…, trial, iteration), NaN past the first `traces`."""
    new = analysis.open_sweep(small)
    old = new.drop_vars(["trace", "traced_trial"])
    padded = np.full(new.success.shape + (new.sizes["iteration"],), np.nan)
    padded[..., : new.sizes["traced_trial"], :] = new.trace.values
    old["trace"] = (new.success.dims + ("iteration",), padded)
    path = tmp_path / "old.nc"
    old.to_netcdf(path)
    again = analysis.open_sweep(path)
    assert again.trace.dims == new.trace.dims
    np.testing.assert_array_equal(again.trace.values, new.trace.values)


def test_an_interrupted_sweep_opens_from_its_parts(small, tmp_path):
    parts = parts_path(small)
    gone = sorted(parts.glob("*.npz"))[:2]
    kept = tmp_path / "kept"
    kept.mkdir()
    for p in gone:
        p.rename(kept / p.name)
    try:
        partial = analysis.open_sweep(parts)
    finally:
        for p in gone:
            (kept / p.name).rename(parts / p.name)
    full = analysis.open_sweep(small)
    assert (partial.attrs["tasks_done"], partial.attrs["tasks"]) == (6, 8)
    run = partial.success.notnull()
    assert int(run.sum()) == 6 * 3 * np.prod([full.sizes[k] for k in ("model", "regularizer", "ratio")])
    for name in ("success", "rel_error", "iterations", "slope"):
        np.testing.assert_array_equal(partial[name].where(run), full[name].where(run))
    assert partial.trace.dims == full.trace.dims
    assert len(analysis.transition_table(partial)) == len(analysis.transition_table(full))


def test_a_running_sweep_can_be_watched(tmp_path):
    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW)
    out = tmp_path / "slow.nc"
    proc = sweep_cli(cfg, "--out", out, "--workers", 1, "--batch-size", 2, start_new_session=True)
    try:
        wait_for_parts(parts_path(out), 2, proc)
        os.killpg(proc.pid, signal.SIGSTOP)  # mid-sweep, holding the folder
        watched = analysis.open_sweep(parts_path(out))
        os.killpg(proc.pid, signal.SIGCONT)
        assert proc.wait(timeout=300) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert 2 <= watched.attrs["tasks_done"] < watched.attrs["tasks"] == 24
    final = analysis.open_sweep(out)
    run = watched.success.notnull()
    assert 0 < int(run.sum()) < run.size
    np.testing.assert_array_equal(watched.rel_error.where(run), final.rel_error.where(run))
