"""dae reproduce --quick end to end: every section writes its table and its figures, and a second
run reuses what finished; the committed report's units.md is what its units/*.json render."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import mnist_dir

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "benchmarks" / "report"
SECTIONS = ["probe", "deep", "cae", "pca", "vae", "sparse", "readme"]


def _dae(*flags):
    return subprocess.run([sys.executable, "-m", "dae.cli", "reproduce", *flags],
                          capture_output=True, text=True, timeout=900)


def _run(out, *flags):
    return _dae("--quick", "--output-dir", str(out), "--data-dir", str(mnist_dir()), *flags)


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


def test_unknown_sections_and_units_are_one_line_and_write_nothing(tmp_path):
    for flags, said in ((["--only", "nine"], "unknown section 'nine'"),
                        (["--units", "probe-nothing"], "unknown unit 'probe-nothing'"),
                        (["--redo", "vae-s1"], "give --units too")):
        done = _dae(*flags, "--output-dir", str(tmp_path / "out"))
        assert done.returncode == 1 and said in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_the_committed_units_md_is_what_the_committed_units_render(tmp_path):
    from dae.report.units import write_unit_report

    (tmp_path / "units").mkdir()
    for path in (REPORT / "units").glob("*.json"):
        (tmp_path / "units" / path.name).write_text(path.read_text())
    write_unit_report(tmp_path)
    assert (tmp_path / "units.md").read_text() == (REPORT / "units.md").read_text()
    # The README's results table is the one the committed units render.
    rendered = (tmp_path / "readme_results.md").read_text()
    assert rendered == (REPORT / "readme_results.md").read_text()
    assert rendered.count("\n") > 10 and rendered in (REPORT.parents[1] / "README.md").read_text()
    text = (REPORT / "units.md").read_text()
    assert "python benchmarks/reproduce.py" not in text  # old units' commands, as dae reproduce
    beta = [line for line in text.splitlines() if line.startswith("| VAE, beta 0.5 |")]
    assert beta and "--beta 0.5" in beta[0]  # a flag after --seed stays in the command


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


@pytest.mark.skipif(mnist_dir() is None, reason="MNIST not found: set DAE_DATA_DIR")
@pytest.mark.parametrize("flags, where, said", [
    (["--only", "pca"], ("dae.optimize", "lbfgs"), "interrupted in section pca"),
    (["--units", "probe-baselines"], ("dae.evaluate", "linear_probe"), "interrupted in unit probe-baselines"),
])
def test_ctrl_c_exits_130_with_the_command_that_resumes_and_that_command_finishes(
        flags, where, said, tmp_path, monkeypatch, capsys):
    import importlib
    import shlex

    from dae import cli

    from test_ctrl_c import Press

    out = tmp_path / "report"
    command = ["reproduce", "--quick", "--output-dir", str(out), "--data-dir", str(mnist_dir()), *flags]
    with monkeypatch.context() as m:
        Press(m, importlib.import_module(where[0]), where[1])
        assert cli.main(command) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and said in err[0] and "Traceback" not in err[0], err
    assert not list(out.glob("sections/*.json")) and not list(out.glob("units/*.json"))
    again = shlex.split(err[0].split("run `")[1].split("`")[0])
    assert again[:3] == ["dae", "reproduce", "--quick"] and str(out) in again
    assert cli.main(again[1:]) == 0
    assert list(out.glob("sections/pca.json")) or list(out.glob("units/probe-baselines.json"))
