"""BENCHMARKS.md is what `benchmarks/report.py` generates from results/
(reads the JSON files and logs only: no benchmark runs)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))

import report  # noqa: E402


def test_benchmarks_md_is_generated_from_the_results():
    with open(os.path.join(report.ROOT, report.REPORT)) as f:
        current = f.read()
    assert current == report.render(), (
        "BENCHMARKS.md is out of date: run python benchmarks/report.py")
    assert report.main(["--check"]) == 0


def test_check_fails_on_a_stale_report(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "BENCHMARKS.md"
    stale.write_text(report.render().replace("1.", "9.", 1))
    monkeypatch.setattr(report, "REPORT", str(stale))
    assert report.main(["--check"]) == 1
    assert "out of date" in capsys.readouterr().err


def test_every_section_names_its_command_and_date():
    text = report.render()
    sections = text.split("\n## ")[1:]
    assert sections[-1].startswith("Tried and rejected")
    for section in sections[:-1]:
        assert "Reproduce: " in section and "Measured " in section, section[:60]
    assert len(text.splitlines()) <= 300
