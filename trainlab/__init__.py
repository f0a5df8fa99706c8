"""trainlab: the deep-learning procedure as one command.

    run = trainlab.run("recipes/tp1-mlp.toml")
    run.metrics["test"]["accuracy"]

Your own model or dataset: register its builder in a Python file and name the file in the
recipe's `plugins` (README, "Your own model and data").

    @trainlab.register_model("tiny_cnn")
    def tiny_cnn(spec, out_features, *, width: int = 16): ...  # → a torch.nn.Module
"""
__version__ = "0.1.0"

__all__ = ["run", "resume", "load_run", "lr_find", "learning_curve", "load_recipe", "build_model", "list_registry",
           "register_model", "register_dataset", "register_loss", "register_optimizer", "register_metric", "RawData",
           "DataSpec",
           "__version__"]


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
    if name == "register_model":  # builder(spec: DataSpec, out_features: int, *, keys...) → nn.Module
        from .models import MODELS

        return MODELS.register
    if name == "register_dataset":  # builder(*, keys...) → RawData
        from .data.datasets import DATASETS

        return DATASETS.register
    if name == "register_loss":  # fn(outputs, targets, *, keys...) → a scalar tensor; task.loss names it
        from .tasks.base import LOSSES

        return LOSSES.register
    if name == "register_optimizer":  # builder(parameters, *, lr: float = ..., keys...) → a torch.optim.Optimizer
        from .engine.optim import OPTIMIZERS

        return OPTIMIZERS.register
    if name == "register_metric":  # fn(true, pred, scores, *, keys...) → a number; eval.metrics names it
        from .evaluate.metrics import register

        return register
    if name == "RawData":
        from .data.datasets import RawData

        return RawData
    if name == "DataSpec":
        from .core.spec import DataSpec

        return DataSpec
    if name == "list_registry":
        from .registries import list_registry

        return list_registry
    raise AttributeError(name)
