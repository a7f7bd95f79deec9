"""Package-level contracts: import cost (no torch/transformers), the CLI entry point."""

from __future__ import annotations

import subprocess
import sys

import tunesmith


def run_python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout


def test_import_does_not_load_heavy_modules():
    out = run_python(
        "import sys, tunesmith, tunesmith.estimate, tunesmith.errors\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'accelerate', 'datasets', 'numpy', 'pyarrow')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    assert out.strip() == ""


def test_scalar_seed_path_stays_light():
    out = run_python(
        "import sys, tunesmith as t\n"
        "t.estimate_training_memory(7000, t.TrainingMethod.LoRA)\n"
        "print('torch' in sys.modules, 'numpy' in sys.modules)"
    )
    assert out.split() == ["False", "False"]


def test_cli_version_and_help_do_not_import_torch():
    out = run_python(
        "import sys, io, contextlib\n"
        "from tunesmith.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    main(['--version']); main(['--help'] if False else [])\n"
        "print(buf.getvalue()); print('torch' in sys.modules)"
    )
    assert f"tunesmith {tunesmith.__version__}" in out
    assert "commands:" in out
    assert out.strip().endswith("False")


def test_console_script_runs_seed_command():
    exe = subprocess.run(
        [sys.executable, "-m", "tunesmith", "seed", "7000"], check=True, capture_output=True, text=True
    ).stdout
    assert "qlora-4bit" in exe and "LoRA(r=8, α=8)" in exe


def test_errors_subclass_stdlib():
    assert issubclass(tunesmith.ArgumentError, ValueError)
    assert issubclass(tunesmith.InputError, ValueError)
    assert issubclass(tunesmith.InputError, tunesmith.TunesmithError)
