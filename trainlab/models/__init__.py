"""Models compute outputs; tasks own loss and metrics. Importing this package registers every
model family."""
from .registry import MODELS
from . import autoencoder, cnn, flow, gan, minilm, mlp, resnet, rnn, seq2seq, tp2, transformer, unet, vit  # noqa: F401  (registers)


def build_model(name: str, spec, out_features: int, **params):
    entry = MODELS.get(name)
    return entry.build(spec, out_features, **entry.validate(params, "model"))
