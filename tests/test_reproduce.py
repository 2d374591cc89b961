"""benchmarks/reproduce.py --quick end to end: every section writes its table and its figures,
and a second run reuses what finished."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import mnist_dir

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "reproduce.py"
SECTIONS = ["probe", "deep", "cae", "pca", "vae", "sparse", "readme"]


def _run(out, *flags):
    return subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(out),
                           "--data-dir", str(mnist_dir()), *flags],
                          capture_output=True, text=True, timeout=900)


@pytest.mark.integration
@pytest.mark.skipif(mnist_dir() is None, reason="MNIST not found: set DAE_DATA_DIR")
def test_quick_report_writes_every_section_and_resumes(tmp_path):
    out = tmp_path / "report"
    done = _run(out)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = (out / "report.md").read_text()
    assert "Not run yet" not in report
    for name in SECTIONS:
        section = json.loads((out / "sections" / f"{name}.json").read_text())
        assert section["rows"], f"section {name} has an empty table"
        for figure in section["figures"]:
            assert (out / figure).stat().st_size > 5000, f"{figure} of {name} is missing or blank"
            assert f"]({figure})" in report
    assert report.count("| command |") + report.count("| command | wall time |") >= 6
    assert (out / "readme_results.md").read_text().startswith("| experiment | command | result |")
    # finished sections and runs are reused; --only recomputes one section from the cached runs
    again = _run(out, "--only", "7")
    assert again.returncode == 0 and "running" not in again.stdout, again.stdout[-2000:]
    assert "[probe] done already" not in again.stdout  # --only skips the others altogether
    rerun = _run(out)
    assert rerun.returncode == 0 and rerun.stdout.count("done already") == len(SECTIONS)


def test_unknown_sections_are_refused(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--only", "nine", "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "unknown section 'nine'" in done.stderr


@pytest.mark.skipif(mnist_dir() is None, reason="MNIST not found: set DAE_DATA_DIR")
def test_units_write_results_render_from_them_alone_and_are_not_rerun(tmp_path):
    out = tmp_path / "report"
    done = _run(out, "--units", "probe-baselines", "probe-cA-s1")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    unit = json.loads((out / "units" / "probe-cA-s1.json").read_text())
    assert unit["rows"]["cA, contraction 0.1"]["test_error"] < 0.9  # a probe that learned something
    assert unit["commit"] and unit["mode"] == "py" and unit["train_command"].startswith("dae train cA")
    assert (out / unit["figures"][0]).stat().st_size > 1000
    import shutil
    shutil.rmtree(out / "runs")  # the report renders from the unit files alone
    (out / "units.md").unlink()
    again = _run(out, "--units", "probe-cA-s1")
    assert again.returncode == 0 and "done already" in again.stdout and "running" not in again.stdout
    table = (out / "units.md").read_text()
    assert "| cA, contraction 0.1 | 32 |" in table and "| raw pixels | 784 |" in table
    refused = _run(out, "--units", "probe-nothing")
    assert refused.returncode == 2 and "unknown unit 'probe-nothing'" in refused.stdout
