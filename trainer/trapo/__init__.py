"""TRAPO trainer: micro-group sampling with adaptive expert prefixes, TrSFT on prefixes, RL on continuations.

The trainer knows nothing of VS Code: it writes a `trapo-run/1` run directory (see `trapo.runformat`).
"""

__version__ = "0.1.0"
RUN_FORMAT = "trapo-run/1"
