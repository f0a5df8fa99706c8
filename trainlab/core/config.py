"""The recipe: a TOML file validated by pydantic models.

Sections whose keys depend on a registered entry (data, model, task, optim, schedule) take a
`name` and that entry's parameters; `trainlab.procedure.resolve` checks those against the
registry. Every other key is checked here: unknown keys and wrong types are errors that name
the key, the value received and what was expected."""
from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from .errors import RecipeError
from .registry import closest, describe_validation_error


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Named(BaseModel):
    """A section naming a registry entry; the extra keys are that entry's parameters."""

    model_config = ConfigDict(extra="allow")
    name: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class AugmentConfig(_Strict):
    """Random transforms of training images, drawn per sample and applied per batch on the device."""

    flip: bool = Field(False, description="mirror left-right with probability 1/2")
    crop: int = Field(0, ge=0, description="shift by up to this many pixels (a random crop of the zero-padded image)")
    rotate: float = Field(0.0, ge=0, le=180, description="rotate by up to ± this many degrees")
    scale: float = Field(0.0, ge=0, lt=1, description="zoom by up to ± this fraction")


class DataConfig(_Named):
    val_fraction: float = Field(0.1, gt=0, lt=1)
    test_fraction: float = Field(0.1, gt=0, lt=1, description="ignored when the dataset has an official test set")
    calibration_fraction: float = Field(0.0, ge=0, lt=1, description="hold out this share of the data (as "
                                        "val_fraction) from training and from choosing the epoch, to fit eval.conformal "
                                        "and eval.calibrate on: their coverage as promised (0: they use the validation split)")
    time_window: int = Field(0, ge=0, description="with data.time and --folds (rolling origin): each fold learns "
                             "from only this many periods before the one it is tested on, a sliding window "
                             "(0: every period before it, an expanding window)")
    stratify: bool = True
    normalize: Literal["standard", "minmax", "none"] = "standard"
    limit: int = Field(0, ge=0, description="use only this many training samples (0: all); for quick runs")
    train_fraction: float = Field(1.0, gt=0, le=1, description="train on this fraction of the training split (the "
                                  "validation and test splits unchanged): a point of trainlab learning-curve")
    max_vocab: int = Field(20000, ge=10, description="text: vocabulary size, built on the training split")
    max_len: int = Field(128, ge=1, description="text: tokens kept per text")
    tokenizer: Literal["word", "minilm"] = Field("word", description="text: a word vocabulary built on the training "
                                                  "split, or MiniLM's pretrained word pieces (for model 'minilm')")
    augment: AugmentConfig = AugmentConfig()


class ModelConfig(_Named):
    pass


class TaskConfig(_Named):
    name: str = "auto"


class OptimConfig(_Named):
    name: str = "sgd"


class ScheduleConfig(_Named):
    name: str = "none"


class EnvConfig(_Named):
    """A reinforcement-learning environment (instead of [data]); its keys are the environment's."""

    name: str = "trainlab/MouseGame-v0"


class AgentConfig(_Named):
    """The learning algorithm for an environment; its keys are the agent's (trainlab list agents)."""

    name: str = "dqn"


class EarlyStopping(_Strict):
    patience: int = Field(5, ge=0, description="epochs without improvement before stopping; 0 disables")
    min_delta: float = Field(0.0, ge=0)
    monitor: str = Field("val_loss", description="what picks the best epoch and stops training: val_loss, or a "
                                                 "validation metric of the task (val_accuracy, val_mae, val_dice, ...)")


class TrainConfig(_Strict):
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1, description="per device: the global batch is batch_size × devices × num_nodes")
    max_steps: int = Field(0, ge=0, description="stop after this many optimiser steps (0: no limit)")
    early_stopping: EarlyStopping = EarlyStopping()
    grad_clip: float = Field(0.0, ge=0, description="clip the gradient norm to this value (0: off)")
    ema: float = Field(0.0, ge=0, lt=1, description="validate, keep, test and predict with an exponential moving "
                                                   "average of the weights of this decay, e.g. 0.999 (0: off)")
    accumulate: int = Field(1, ge=1, description="one optimiser step per this many batches, their gradients combined as "
                                                 "one batch of accumulate × batch_size (× devices) would give them")
    l1: float = Field(0.0, ge=0, description="L1 penalty on weights, added to the loss")
    l2: float = Field(0.0, ge=0, description="L2 penalty on weights, added to the loss")
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["auto", "32", "bf16"] = Field(
        "auto", description="auto: bf16 autocast for conv nets and attention on CUDA, fp32 elsewhere; 32; bf16 (on the "
                            "CPU too: about 2x faster convolutions where the CPU has AVX512-BF16 or AMX)")
    devices: int = Field(1, ge=1, description="processes (GPUs, or CPU processes) per machine, data-parallel")
    num_nodes: int = Field(1, ge=1, description="machines (launched with torchrun or SLURM)")
    strategy: Literal["auto", "ddp", "fsdp"] = Field(
        "auto", description="auto: DDP when there are several processes; ddp; fsdp: each process holds a shard of "
                            "the parameters, gradients and optimiser state (FSDP2)")
    scale_lr: bool = Field(False, description="multiply the learning rate by the number of processes")
    eval_batch_size: int = Field(2048, ge=1)
    loop: Literal["fast", "textbook"] = Field("fast", description="textbook: a torch DataLoader loop, for comparison")
    resident: Literal["auto", "device", "host"] = Field(
        "auto", description="where the training set lives: auto keeps it on the device when it takes at most half of "
                            "the free device memory; host copies batch by batch (data larger than the GPU)")
    cuda_graph: Literal["auto", "off"] = Field(
        "auto", description="auto: on one CUDA device, replay the whole training step as a CUDA graph when the task, "
                            "optimiser (SGD, Adam, AdamW) and precision allow it")

    @pydantic.field_validator("precision", mode="before")
    @classmethod
    def _precision_number(cls, v):
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v  # precision = 32, or --set train.precision=32


class EvalConfig(_Strict):
    baselines: bool = True
    baseline_max_samples: int = Field(10000, ge=100)
    repeats: int = Field(1, ge=1, description="rerun over this many split seeds; report mean ± std")
    folds: int = Field(0, ge=0, description="K-fold cross-validation (0: off): K runs, each testing one of K stratified "
                                            "folds, so every sample is tested once; sets repeats to K")
    calibrate: bool = Field(False, description="fit a temperature on the validation split (the calibration split with "
                                               "data.calibration_fraction); report calibration before and after")
    tta: Literal["none", "flip"] = Field("none", description="test-time augmentation of image classifiers: 'flip' "
                                        "averages the outputs for each image and its mirror (test, predict, serve, export)")
    conformal: float = Field(0.0, ge=0, lt=1, description="coverage of split-conformal prediction intervals (values) or "
                                                         "sets (classes), e.g. 0.9 (0: off), fitted on the validation split, "
                                                         "or exactly on the calibration split of data.calibration_fraction")
    conformal_by_class: bool = Field(False, description="classes: fit one conformal threshold per class (Mondrian), "
                                     "so that every class, the hard ones too, is covered as eval.conformal asks")
    metrics: list[str | dict] = Field([], description="metrics of your own (trainlab.register_metric in a plugin): "
                                      "names, or tables of a name and its keys; scored on the test like trainlab's")


class ReportConfig(_Strict):
    html: bool = True
    interpret: bool = Field(True, description="attributions and learned features in the report (needs captum)")
    interpret_samples: int = Field(8, ge=1, le=64, description="test samples explained")


def plugin_is_file(entry: str) -> bool:
    return entry.endswith(".py")


def plugin_paths(entries, base: Path) -> list:
    """Plugin files relative to `base` (a recipe file's folder) made absolute; module names as they are."""
    if not isinstance(entries, list):
        return entries  # the schema says what is wrong
    return [str((base / Path(e).expanduser()).resolve()) if isinstance(e, str) and plugin_is_file(e) else e
            for e in entries]


class Recipe(_Strict):
    name: str = "run"
    description: str = ""
    seed: int = 0
    plugins: list[str] = Field([], description="your own models, datasets and losses: Python files (relative to the "
                               "recipe file) or importable modules whose trainlab.register_model / register_dataset / "
                               "register_loss entries the recipe names; a run keeps a copy of each file")
    data: DataConfig | None = None
    env: EnvConfig | None = None
    agent: AgentConfig | None = None
    model: ModelConfig
    task: TaskConfig = TaskConfig()
    optim: OptimConfig = OptimConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    report: ReportConfig = ReportConfig()

    @pydantic.field_validator("plugins")
    @classmethod
    def _plugin_names(cls, entries):
        for e in entries:
            if not (plugin_is_file(e) or all(part.isidentifier() for part in e.split("."))):
                raise ValueError(f"plugin {e!r} is neither a Python file (ending in .py) nor a module name (mylab.models)")
        return plugin_paths(entries, Path.cwd())  # a recipe made in code: files relative to the working directory

    @pydantic.model_validator(mode="after")
    def _data_or_env(self):
        if (self.data is None) == (self.env is None):
            raise ValueError("a recipe needs exactly one of [data] (supervised learning) and [env] (reinforcement learning)")
        if self.env is not None and self.agent is None:
            self.agent = AgentConfig()
        if self.eval.folds:
            if self.eval.folds == 1 or self.eval.repeats not in (1, self.eval.folds):
                raise ValueError(f"cross-validation with eval.folds = {self.eval.folds} and eval.repeats = "
                                 f"{self.eval.repeats}: it needs at least 2 folds, and runs once per fold (leave "
                                 "eval.repeats out)")
            self.eval.repeats = self.eval.folds
        return self

    @property
    def is_rl(self) -> bool:
        return self.env is not None

    def to_dict(self) -> dict:
        d = self.model_dump(mode="json", exclude_none=True)
        if not d["plugins"]:
            del d["plugins"]  # a recipe without plugins reads (and hashes) as it always did
        if not d["eval"]["metrics"]:
            del d["eval"]["metrics"]  # (as one without metrics of its own)
        return d


SECTIONS = [k for k in Recipe.model_fields]


def _parse_value(text: str) -> Any:
    """An override value is TOML (`0.1`, `true`, `[64, 32]`, `"adam"`); bare words are strings."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    for item in overrides:
        if "=" not in item:
            raise RecipeError(f"Override {item!r} is not of the form section.key=value, e.g. optim.lr=0.1.")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        if parts[0] not in SECTIONS:
            hint = closest(parts[0], SECTIONS)
            raise RecipeError(
                f"Override {item!r}: unknown section {parts[0]!r}."
                + (f" Did you mean {hint!r}?" if hint else "")
                + f" Sections: {', '.join(SECTIONS)}."
            )
        node = raw
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise RecipeError(f"Override {item!r}: {p!r} is a value, not a section.")
        node[parts[-1]] = _parse_value(value.strip())
    return raw


def parse_recipe(raw: dict, source: str = "recipe") -> Recipe:
    try:
        return Recipe.model_validate(raw)
    except pydantic.ValidationError as err:
        raise RecipeError(f"{source}: " + describe_validation_error(err, "", Recipe)) from None


def load_recipe(path: str | Path, overrides: list[str] = ()) -> Recipe:
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"Recipe file {str(path)!r} does not exist. Recipes shipped with trainlab are in recipes/.")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise RecipeError(f"Recipe {str(path)!r} is not valid TOML: {err}.") from None
    raw.setdefault("name", path.stem)
    raw = apply_overrides(raw, list(overrides))
    if "plugins" in raw:
        raw["plugins"] = plugin_paths(raw["plugins"], path.parent)
    return parse_recipe(raw, str(path))


def schema() -> dict:
    return Recipe.model_json_schema()


# --- a small TOML writer for resolved recipes (scalars, lists, nested tables) ---

def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf" if v < 0 else "nan")
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items() if x is not None) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def to_toml(d: dict, prefix: str = "") -> str:
    scalars = {k: v for k, v in d.items() if not isinstance(v, dict) and v is not None}
    tables = {k: v for k, v in d.items() if isinstance(v, dict)}
    out = [f"{k} = {_toml_value(v)}" for k, v in scalars.items()]
    for k, v in tables.items():
        name = f"{prefix}{k}"
        out.append(f"\n[{name}]")
        out.append(to_toml(v, name + ".").strip("\n"))
    return "\n".join(line for line in out if line != "") + "\n"
