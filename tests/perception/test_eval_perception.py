"""``scenewright eval perception BENCH``: perception measured against a generated benchmark."""

from __future__ import annotations

import json

from scenewright.cli import main


def test_eval_perception_on_a_generated_bench(small_bench, tmp_path, capsys):
    out = tmp_path / "perception.json"
    assert main(["eval", "perception", str(small_bench), "--json", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    report = json.loads(out.read_text())
    assert report["summary"] == summary and len(report["scenes"]) == summary["scenes"] == 2
    # Rendered depth of a flat floor: the fitted floor is within a degree of the truth.
    assert summary["floor_found"] == 2 and summary["floor_angle_deg"]["max"] < 1.0
    assert main(["eval", "perception", str(tmp_path / "nowhere")]) == 2
    assert "manifest.json" in capsys.readouterr().err
