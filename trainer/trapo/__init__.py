"""TRAPO trainer: micro-group sampling with adaptive expert prefixes, TrSFT on prefixes, RL on continuations.

The trainer knows nothing of VS Code: it writes a `trapo-run/1.1` run directory (see `trapo.runformat`).
"""

__version__ = "0.1.0"
RUN_FORMAT = "trapo-run/1.1"
RUN_FORMATS_READ = ("trapo-run/1", "trapo-run/1.1")  # 1.1 only adds to 1: a reader of 1.1 reads both
