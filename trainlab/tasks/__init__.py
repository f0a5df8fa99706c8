"""Tasks own the loss, the metrics and (when needed) the training step."""
from .base import TASKS, Task, build_task  # noqa: F401  (the package's API)
from . import classification, density, generative, reconstruction, regression, segmentation, seq2seq  # noqa: F401  (registers)
