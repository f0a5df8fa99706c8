"""The model registry. A builder takes (spec: DataSpec, out_features: int, **params)."""
from ..core.registry import Registry

MODELS = Registry("model")
