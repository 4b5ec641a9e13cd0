"""``prunesearch demo``, the README's first command, run as a user runs it (a process).

``--trials 3`` keeps it to the three baselines: well under the few
minutes the full demo takes on two cores, with every step of it (migrate, serve, submit
over REST, follow, leaderboard, download, load the bundle, check its test accuracy).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from pruning import load_bundle, zoo


def test_the_demo_runs_a_real_job_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRUNESEARCH_")}
    command = [str(Path(sys.executable).with_name("prunesearch")), "demo", "--trials", "3"]

    done = subprocess.run(
        [*command, "--out", str(out)],
        env=env | {"COLUMNS": "200"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )

    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "◆ uniform" in done.stdout and "◆ global" in done.stdout
    assert "◆ sensitivity" in done.stdout
    assert "Gain over uniform" in done.stdout
    assert "test accuracy of the loaded bundle" in done.stdout and "they match" in done.stdout
    assert "Traceback" not in output
    # The bundle stays in --out; the server's scratch folder (database, store) does not.
    assert {"model.safetensors", "policy.json", "report.json"} <= {p.name for p in out.iterdir()}
    assert not (out / "server").exists()
    assert load_bundle(out, _demo_model) is not None


def _demo_model() -> torch.nn.Module:
    return zoo.build("small_cnn", width=16, num_classes=10, in_channels=1)
