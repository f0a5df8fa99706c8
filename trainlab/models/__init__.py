"""Models compute outputs; tasks own loss and metrics. Importing this package registers every
model family."""
from .registry import MODELS
from . import autoencoder, cnn, flow, gan, minilm, mlp, resnet, rnn, seq2seq, tp2, transformer, unet, vit  # noqa: F401  (registers)


def build_model(name: str, spec, out_features: int, **params):
    """The model `name` for data of `spec`; settings its layers refuse for this data (a kernel larger than
    the image, a depth the input cannot halve that often) are a recipe error, not torch's traceback."""
    from ..core.errors import RecipeError

    entry = MODELS.get(name)
    params = entry.validate(params, "model")
    if getattr(spec, "padded", False) and name not in ("rnn", "transformer") and entry.builtin:
        raise RecipeError(f"model {name!r} reads series of one length; these are of several, padded with NaN steps "
                          "to the longest: the rnn and the transformer read each series' own steps.")
    try:
        return entry.build(spec, out_features, **params)
    except (ValueError, IndexError, AssertionError, ZeroDivisionError, RuntimeError) as err:
        settings = ", ".join(f"{k} = {v!r}" for k, v in params.items() if v is not None)
        raise RecipeError(f"model {name!r} cannot be built with {settings or 'its defaults'} for inputs of shape "
                          f"{list(spec.input_shape)}: {type(err).__name__}: {err}. Change the [model] settings.") from None


def check_user_model(name: str, model, spec, task) -> None:
    """A user's model (not one of trainlab's) is a torch module, and where the task says what a model
    returns (classification, regression, segmentation, reconstruction: `Task.output_shape`) it maps a
    batch of 2 inputs to that, before any training: a wrong shape is an error naming the model, not a
    traceback from the middle of an epoch. The random generators are left as they were, so the run
    trains as it would without the check."""
    import torch

    from ..core.errors import RecipeError

    entry = MODELS.get(name)
    if entry.builtin:
        return
    where = f"Model {name!r} ({entry.where})"
    if not isinstance(model, torch.nn.Module):
        raise RecipeError(f"{where} returned a {type(model).__name__}; a model builder returns a torch.nn.Module.")
    expected = task.output_shape()
    if expected is None:
        return
    shape = tuple(spec.input_shape)
    x = torch.ones((2, *shape), dtype=torch.long) if spec.kind in ("text", "sequence") else torch.zeros((2, *shape))
    was_training = model.training
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        model.eval()
        try:
            out = model(x)
        except Exception as err:
            raise RecipeError(f"{where} fails on a batch of 2 inputs of shape {list(shape)} "
                              f"({'token ids' if x.dtype == torch.long else 'float32'}): {type(err).__name__}: {err}") from None
        finally:
            model.train(was_training)
    want, need = (2, *expected[0]), expected[1]
    got = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != want:
        raise RecipeError(f"{where} returned {got} for a batch of 2 inputs of shape {list(shape)}; the {task.name} "
                          f"task needs {list(want)}, {need}.")
