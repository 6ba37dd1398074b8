"""The ``analysis`` command's words when it is stopped."""

import os
from pathlib import Path

import pytest

from analysis import cli, report

ROOT = Path(__file__).resolve().parents[2]


def _stopped(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("folder_exists", [False, True])
def test_a_report_stopped_before_any_file_says_nothing_was_written(tmp_path, monkeypatch, capsys, folder_exists):
    """Stopped before its first figure: the folder may not exist, or may hold an older
    report; either way nothing of this run is there."""
    out = tmp_path / "report"
    if folder_exists:
        out.mkdir()
        (out / "old.png").write_bytes(b"an older run's")
        old = (out / "old.png").stat().st_mtime - 60
        os.utime(out / "old.png", (old, old))
    monkeypatch.setattr(report, "report", _stopped)
    assert cli.main(["report", str(ROOT / "data" / "example.nc"), "--out", str(out)]) == 130
    assert capsys.readouterr().err.strip() == "analysis: interrupted; nothing written yet; rerun to finish"


def test_a_report_stopped_after_two_files_counts_them(tmp_path, monkeypatch, capsys):
    out = tmp_path / "report"

    def two_then_stop(ds, folder, fmt, figure1=None):
        Path(folder).mkdir()
        for name in ("a.png", "b.png"):
            (Path(folder) / name).write_bytes(b"png")
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "report", two_then_stop)
    assert cli.main(["report", str(ROOT / "data" / "example.nc"), "--out", str(out)]) == 130
    assert (
        capsys.readouterr().err.strip()
        == f"analysis: interrupted; {out} holds the 2 files written so far; rerun to finish"
    )
