"""The datasets as CF sees them: the IOOS compliance checker, at the CF version the files
declare, finds no error in a fresh sweep, a fresh Figure-1 dataset or the committed ones."""

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from compliance_checker.runner import CheckSuite, ComplianceChecker

from sweep import conventions, dataset, figure1

ROOT = Path(__file__).resolve().parents[2]


def cf_errors(path, tmp_path):
    """The checker's errors (its high-priority messages) for ``path``."""
    with xr.open_dataset(path) as ds:
        version = ds.attrs["Conventions"].removeprefix("CF-")
    report = tmp_path / f"{Path(path).stem}.json"
    CheckSuite.load_all_available_checkers()
    # returns False on any finding; the report says which
    ComplianceChecker.run_checker(
        str(path), [f"cf:{version}"], 0, "normal", output_filename=str(report), output_format="json"
    )
    (result,) = json.loads(report.read_text()).values()
    return [msg for check in result["high_priorities"] for msg in check["msgs"]]


def test_a_fresh_sweep_is_cf_clean(tmp_path, small_reference):
    path = tmp_path / "small.nc"
    dataset.write_dataset(small_reference, path)
    assert cf_errors(path, tmp_path) == []
    with xr.open_dataset(path, decode_cf=False) as raw:
        for name, attrs in conventions.VARIABLES.items():
            if "flag_meanings" in attrs and name in raw:  # convex_success: only with convex_limit
                assert raw[name].dtype == np.int8 and raw[name].flag_values.dtype == np.int8
                assert list(raw[name].flag_values) == [0, 1] and "units" not in raw[name].attrs
        assert all("_FillValue" not in raw[c].attrs for c in raw.coords)


def test_a_fresh_figure1_dataset_is_cf_clean(tmp_path):
    path = tmp_path / "f1.nc"
    dataset.write_dataset(figure1.run_figure1(trials=3, iterations=5), path)
    assert cf_errors(path, tmp_path) == []


@pytest.mark.parametrize(
    "name",
    [
        "example.nc",
        "figure1.nc",
        "cap.nc",
        "adaptive-quick.nc",
        "flicker.nc",
        "scale.nc",
        "step.nc",
        "flicker-step.nc",
        "flicker-normalized.nc",
        "structures-group.nc",
        "structures-lowrank.nc",
        "step-settle.nc",
    ],
)
def test_the_committed_datasets_are_cf_clean(tmp_path, name):
    assert cf_errors(ROOT / "data" / name, tmp_path) == []


def test_a_damaged_dataset_is_caught_by_the_checker(tmp_path, small_reference):
    """The check can fail: a coordinate with a fill value and a made-up unit are errors."""
    path = tmp_path / "bad.nc"
    ds = small_reference.copy()
    ds["slope"].attrs["units"] = "log10(1) per iteration"
    ds.to_netcdf(path, encoding={"ratio": {"_FillValue": np.nan}})
    errors = cf_errors(path, tmp_path)
    assert any("ratio" in e and "_FillValue" in e for e in errors) and any("slope" in e for e in errors)
