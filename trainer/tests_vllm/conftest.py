"""The vLLM engine's suite: runs only in the environment of `scripts/setup-python.sh --vllm` (trainer/.venv-vllm).

Engines start in this process (in-process vLLM, as the trainer runs it); one engine at a time, closed after its module.
"""

import importlib.util
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"

if importlib.util.find_spec("vllm") is None:
    sys.exit("tests_vllm needs vLLM: run them with trainer/.venv-vllm/bin/python (bash scripts/setup-python.sh --vllm)")


def main_suite_helpers():
    """trainer/tests/conftest.py (tiny_config, validate_run_dir) under a name of its own."""
    path = Path(__file__).resolve().parents[1] / "tests" / "conftest.py"
    spec = importlib.util.spec_from_file_location("trapo_tests_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
