"""trainlab: the deep-learning procedure as one command.

    run = trainlab.run("recipes/tp1-mlp.toml")
    run.metrics["test"]["accuracy"]
"""
__version__ = "0.1.0"

__all__ = ["run", "resume", "load_run", "lr_find", "learning_curve", "load_recipe", "build_model", "list_registry", "__version__"]


def __getattr__(name):  # torch and friends load only when something is used
    if name in ("run", "resume", "load_run", "lr_find"):
        from . import procedure

        return getattr(procedure, name)
    if name == "learning_curve":
        from .curve import learning_curve

        return learning_curve
    if name == "load_recipe":
        from .core.config import load_recipe

        return load_recipe
    if name == "build_model":
        from .models import build_model

        return build_model
    if name == "list_registry":
        from .registries import list_registry

        return list_registry
    raise AttributeError(name)
