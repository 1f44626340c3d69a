# transformers, typed as Any for pyright (trainer/pyproject.toml [tool.pyright]): its 2,800 modules tripled the time of
# the check (about 50 s instead of 20 s on 2 cores), and its annotations (from_pretrained's keyword arguments, .to() of
# a loaded model, decode() returning str | list[str]) gave only false positives on this package.
from typing import Any

def __getattr__(name: str) -> Any: ...
