"""Predictor: a run's best model with exactly the preprocessing it was trained with (the stored
normalisation statistics, input shape and class names). Nothing is refitted, nothing unpickled."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..core.errors import CheckpointError, DataError
from ..core.spec import DataSpec
from ..data.sources import finite_float32
from ..data.transforms import Normalizer
from ..evaluate import conformal
from ..evaluate.tta import with_tta
from ..plugins import identity, load_stored

from ..tasks.base import UNUSUAL, percentile_rank, unusual


class Predictor:
    def __init__(self, run_dir: str | Path, device: str = "cpu"):
        import torch

        from ..engine import checkpoint
        from ..models import build_model
        from ..tasks import build_task

        self.run_dir = Path(run_dir)
        folder = self.run_dir / "checkpoints"
        if not checkpoint.exists(folder, "best"):
            raise CheckpointError(f"{str(self.run_dir)!r} has no best checkpoint (checkpoints/best.json). "
                                  "Is it a trainlab run directory whose training finished at least one epoch?")
        tensors, meta = checkpoint.load(folder, "best")
        if "recipe" not in meta or "spec" not in meta:
            raise CheckpointError(f"{str(self.run_dir)!r} is not a supervised run (a reinforcement-learning run, or one "
                                  "from an older trainlab): predict, export, serve and explain need a model trained on data.")
        self.meta, self.recipe = meta, meta["recipe"]
        self.not_inputs = {self.recipe["data"].get(k) for k in ("label", "group", "series", "order")} - {None, ""}
        # (a table's columns that are no input)
        plugins = load_stored(self.run_dir) if self.recipe.get("plugins") else []  # the code it was trained with
        self.spec = DataSpec.from_dict(meta["spec"])
        self.normalizer = Normalizer(**meta["normalizer"])
        self.tokenizer = None
        if meta.get("tokenizer"):
            from ..data.text import tokenizer_from_dict

            self.tokenizer = tokenizer_from_dict(meta["tokenizer"])
        task_params = {k: v for k, v in self.recipe["task"].items() if k != "name"}
        self.task = build_task(meta["task"]["name"], self.spec, task_params, normalizer=self.normalizer)
        f = self.run_dir / "metrics.json"
        self.metrics = json.loads(f.read_text()) if f.is_file() else {}
        fitted = self.metrics.get("test", {}).get("conformal") or {}  # eval.conformal, as the run fitted it
        self.conformal = {} if fitted.get("too_few") else fitted
        chosen = self.metrics.get("test", {}).get("threshold")
        if chosen is not None:  # a binary classifier's or a segmentation's, as the run tested (often chosen on validation)
            self.task.threshold = chosen
        if not (self.task.supervised or self.task.name == "segmentation" or self.task.surprise_name):
            raise CheckpointError(f"predict, export and serve handle classification, regression, segmentation, "
                                  f"density and autoencoder runs; this run's task is {self.task.name!r}.")
        model_params = {k: v for k, v in self.recipe["model"].items() if k != "name"}
        self.network = build_model(self.recipe["model"]["name"], self.spec, self.task.output_size(), **model_params)
        try:
            self.network.load_state_dict(tensors)
        except RuntimeError as err:
            raise CheckpointError(f"The weights in {str(folder)!r} do not fit the recipe's model: {err}") from None
        self.device = torch.device(device)
        self.network.to(self.device).eval()
        # what predicts, serves and is exported: the network as it was tested (with its test-time augmentation)
        self.tta = self.recipe.get("eval", {}).get("tta", "none")
        self.model = with_tta(self.network, self.tta)
        recipe = identity({**self.recipe, "plugins": plugins}) if plugins else self.recipe  # plugins by their content
        self.recipe_hash = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]

    # --- inputs ---

    def rows_to_array(self, rows: list[dict], what: str = "input", first_row: int = 0,
                      other_columns: bool = False) -> np.ndarray:
        """Table rows (dicts of column → value, in any order) → (N, F) in training order, categorical
        columns one-hot encoded as in training. A missing or unknown column, a value that is not a
        finite number or a category training never saw is an error naming it (rows counted from
        `first_row`: 2 for a CSV file's lines after its header); the label and group columns, which
        are not inputs, are ignored, and with `other_columns` every column that is not an input (a file
        shaped like the training table: its identifiers, dates, ...)."""
        from ..data import sources

        names = list(self.spec.input_columns)
        for i, row in enumerate(rows, first_row):
            if not isinstance(row, dict):
                raise DataError(f"{what} row {i}: expected an object of feature → value, received "
                                f"{type(row).__name__}.")
            missing = [n for n in names if n not in row]
            extra = [k for k in row if k not in names and k not in self.not_inputs and not other_columns]
            if missing or extra:
                raise DataError(f"{what} row {i}: " + (f"missing feature column {missing[0]!r}" if missing else
                                                       f"unknown column {extra[0]!r}")
                                + f". Expected columns: {', '.join(names)}.")
        return sources.encode_cells([[row[n] for n in names] for row in rows], names, dict(self.spec.categories),
                                    lambda r, j: f"{what} row {r + first_row}, column {names[j]!r}",
                                    missing=bool(self.normalizer.fill) or self.recipe["data"].get("missing") == "previous")

    def texts_to_array(self, texts, what: str = "inputs") -> np.ndarray:
        """Strings → token ids with the run's own vocabulary."""
        if not all(isinstance(t, str) and t.strip() for t in texts):
            raise DataError(f"{what}: this model reads text; send non-empty strings.")
        return self.tokenizer.encode(list(texts))

    def segment_files(self, paths, out_dir: Path) -> list[dict]:
        """Segmentation runs: each image (TIFF/PNG, any size; tiled when the recipe sets task.tile) →
        <name>_probability.tif (float32) and <name>_labels.tif (int32 instance ids) in out_dir, at the
        threshold the run chose on its validation split."""
        import tifffile
        import torch

        from ..data import sources

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        rows = []
        for f in sources.image_files(paths):
            image = sources.grey_percentiles(sources.read_plane(f))
            x = torch.as_tensor(image)[None, None].to(self.device)
            prob = torch.sigmoid(self.task.logits(self.model, x)[0, 0]).cpu().numpy()
            labels = self.task.segment(prob)
            files = {k: out_dir / f"{f.stem}_{k}.tif" for k in ("probability", "labels")}
            tifffile.imwrite(files["probability"], prob.astype(np.float32))
            tifffile.imwrite(files["labels"], labels)
            rows.append({"input": f.name, "objects": int(labels.max()), "foreground_share": float((labels > 0).mean()),
                         "probability": str(files["probability"]), "labels": str(files["labels"])})
        return rows

    def read_files(self, paths) -> tuple[np.ndarray, list[str]]:
        """Image files or folders (image runs), or CSV files (table runs; "-" reads one from standard input, and
        a pipe such as a shell's <(command) is read too) → (inputs, row names)."""
        from ..data import sources

        self.ignored_columns = {}  # CSV file → its columns that are not inputs, left out
        self.labelled = []  # CSV files that hold the label column: trainlab evaluate scores the model on them
        if self.tokenizer is not None:  # text runs predict the strings themselves
            return self.texts_to_array([str(p) for p in paths]), [str(p) for p in paths]
        if self.spec.kind == "image":
            arrays, names = [], []
            for f in sources.image_files(paths):
                stack = self._npy_stack(f)
                arrays += [stack] if stack is not None else [sources.read_image(f, self.spec.input_shape)[None]]
                names += [f"{f}[{i}]" for i in range(len(stack))] if stack is not None else [str(f)]
            return np.concatenate(arrays), names
        arrays, names = [], []
        for p in (Path("/dev/stdin") if str(p) == "-" else Path(p) for p in paths):
            window = self.recipe["data"].get("window") if self.recipe["data"]["name"] == "arrays" else 0
            if window and p.suffix.lower() == ".npy":  # recordings, cut into windows as in training
                stack, named = self._windows(p, window, self.recipe["data"].get("stride", 0))
                arrays.append(stack)
                names += named
                continue
            stack = self._npy_stack(p) if p.suffix.lower() == ".npy" else None
            if stack is not None:
                arrays.append(stack)
                names += [f"{p}[{i}]" for i in range(len(stack))]
                continue
            long = self.recipe["data"].get("series") if self.recipe["data"]["name"] == "table" else None
            if self.spec.kind == "series" and not long:
                raise DataError(f"Input {str(p)!r}: a series run reads .npy files of series, shape [N, "
                                f"{', '.join(map(str, self.spec.input_shape))}] ({self._steps()}).")
            header, rows = sources.read_csv_rows(p) if p.exists() and not p.is_dir() else (None, None)
            if header is None:
                raise DataError(f"Input {str(p)!r} does not exist (expected a CSV file with columns "
                                f"{', '.join(self.spec.input_columns)}).")
            dict_rows = [dict(zip(header, r)) for r in rows]
            what = "standard input" if str(p) == "/dev/stdin" else str(p)
            if not set(header) & set(self.spec.input_columns):
                raise DataError(f"{what}: its first line ({', '.join(header[:4])}{', ...' if len(header) > 4 else ''}) "
                                f"names none of the model's input columns ({', '.join(self.spec.input_columns)}); "
                                "a CSV file starts with a line of column names.")
            x = self.rows_to_array(dict_rows, what, first_row=2, other_columns=True)
            if long:  # one row a step: grouped into series (or windows) as in training
                x, samples = self._long_series(x, header, rows, what)
                arrays.append(x)
                names += [f"{p.name}: {n}" for n in samples]
            else:
                arrays.append(x)
                ids = self._row_ids(header, rows)
                names += [f"{p.name}:{i + 2}" + (f" ({ids[i]})" if ids else "") for i in range(len(rows))]
            other = [c for c in header if c not in self.spec.input_columns and c not in self.not_inputs]
            if other:
                self.ignored_columns[what] = other
            if self.recipe["data"].get("label") in header and p.is_file():  # (a pipe is read once)
                self.labelled.append(str(p))
        return np.concatenate(arrays), names

    def _windows(self, path: Path, window: int, stride: int) -> tuple[np.ndarray, list[str]]:
        """A .npy file of recordings, (N, T, F) (or one, (T, F)), → their windows as the run cut its own, named
        "file.npy[i], steps 0-99"; a recording shorter than a window gives none."""
        from ..data import long
        from ..data.datasets import series_lengths

        a = _load_npy(path)
        features = self.spec.input_shape[1]
        a = a[..., None] if features == 1 and a.ndim in (1, 2) and a.shape[-1] != 1 else a
        a = a[None] if a.ndim == 2 else a
        if a.ndim != 3 or a.shape[2] != features:
            raise DataError(f"{path}: expected recordings of {features} value{'s' * (features > 1)} a step, shape [N, T, "
                            f"{features}], cut into windows of {window} steps; received {list(a.shape)}.")
        a = finite_float32(a, str(path), nan_ok=True)
        lengths = series_lengths(a, str(path))
        x, owner, first = long.cut(a, lengths, window, stride)
        if not len(x):
            raise DataError(f"{path}: no recording has {window} steps or more, a window (the longest: {lengths.max()}).")
        return self.check_array(x, str(path)), [long.window_name(f"{path}[{i}]", s, window) for i, s in zip(owner, first)]

    def _long_series(self, x: np.ndarray, header: list[str], rows: list[list[str]], what: str):
        """A long table's rows, encoded (R, F), → its series (N, T, F) as the run read its own (data.series,
        data.order, data.window, data.stride, data.missing), and their names."""
        from ..data import long

        data = self.recipe["data"]
        for c in (data["series"], data.get("order")):
            if c and c not in header:
                raise DataError(f"{what} has no column {c!r}; the run read series one row a step, told apart by column "
                                f"{data['series']!r}" + (f" and ordered by {data['order']!r}" if data.get("order")
                                                         else "") + ".")

        def cells(column: str) -> list[str]:
            j = header.index(column)
            return [r[j] for r in rows]

        g = long.group(x, cells(data["series"]), what, order=(data["order"], cells(data["order"]))
                       if data.get("order") else None, window=data.get("window", 0), stride=data.get("stride", 0),
                       fill=data.get("missing") == "previous", feature_names=self.spec.feature_names)
        return self.check_array(g.x, what), g.names

    def _row_ids(self, header: list[str], rows: list[list[str]]) -> list[str] | None:
        """A table's identifier column, when it is not an input (named id, patient_id, ... and different on
        every row; not pandas' row numbers): its cells, to name the rows by. None when there is none."""
        from ..starter import id_name

        for j, c in enumerate(header):
            if c not in self.spec.input_columns and id_name(c) and not c.lower().startswith("unnamed"):
                ids = [r[j].strip() for r in rows]
                if len(set(ids)) == len(ids):
                    return ids
        return None

    def _npy_stack(self, path: Path) -> np.ndarray | None:
        """A .npy file holding several inputs, (N, *input_shape) (or (N, H, W) for one channel, (N, F) for
        a table), as float32; None for a file of one image, which read_image takes."""
        if path.suffix.lower() != ".npy":
            return None
        a = _load_npy(path)
        shape = tuple(self.spec.input_shape)
        if self.spec.kind == "image" and a.ndim == len(shape) - (shape[0] == 1):  # one image
            return None
        return self.check_array(a, str(path))

    def _steps(self) -> str:
        """A series run's input in words: "28 steps of 3 values (ax, ay, az)"."""
        t, f = self.spec.input_shape
        names = list(self.spec.feature_names)
        named = ", ".join(names if len(names) <= 6 else [*names[:3], "...", names[-1]])
        return f"{'up to ' * self.spec.padded}{t} steps of {f} value{'s' * (f > 1)} ({named})"

    def check_array(self, x, what: str = "input") -> np.ndarray:
        """Raw inputs (training units) as (N, *input_shape) float32; errors name the shape."""
        try:
            a = np.asarray(x)
        except (ValueError, TypeError):  # ragged nested lists
            raise DataError(f"{what}: expected a rectangular array of numbers (all rows the same length).") from None
        if not np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_:
            raise DataError(f"{what}: expected numbers, received values of type {a.dtype}.")
        shape = tuple(self.spec.input_shape)
        if self.spec.kind == "image":
            # (H, W) one grey image; (N, H, W) grey images or one (C, H, W) image; (N, C, H, W)
            if a.ndim == 2 and shape[0] == 1:
                a = a[None, None]
            elif a.ndim == 3:
                a = a[:, None] if shape[0] == 1 else a[None]
            if a.ndim != 4 or tuple(a.shape[1:]) != shape:
                raise DataError(f"{what}: expected images of shape {list(shape)} (a batch: [N, {', '.join(map(str, shape))}]); "
                                f"received an array of shape {list(a.shape)}.")
        elif self.spec.kind == "series":  # (T, F) one series; (N, T, F); with one value a step, (T,) and (N, T)
            if shape[1] == 1 and a.ndim in (1, 2) and (a.shape[-1] == shape[0] or self.spec.padded and a.ndim == 1):
                a = a[..., None]
            if a.ndim == 2:
                a = a[None]
            if self.spec.padded and a.ndim == 3 and a.shape[1] < shape[0]:  # shorter: padded as in training
                a = np.concatenate([a.astype(np.float32), np.full((len(a), shape[0] - a.shape[1], a.shape[2]), np.nan,
                                                                 np.float32)], 1)
            if a.ndim != 3 or tuple(a.shape[1:]) != shape:
                raise DataError(f"{what}: expected series of {self._steps()}, shape {list(shape)} (a batch: [N, "
                                f"{shape[0]}, {shape[1]}]); received an array of shape {list(a.shape)}.")
            if self.spec.padded:
                from ..data.datasets import series_lengths

                a = finite_float32(a, what, nan_ok=True)
                series_lengths(a, what)
                return a
        else:
            if a.ndim == 1:
                a = a[None]
            if a.ndim != 2 or a.shape[1] != shape[0]:
                raise DataError(f"{what}: expected rows of {shape[0]} features ({', '.join(self.spec.feature_names)}); "
                                f"received an array of shape {list(a.shape)}.")
        return finite_float32(a, what, nan_ok=bool(self.normalizer.fill))

    # --- outputs ---

    def preprocess(self, x: np.ndarray) -> np.ndarray:
        return self.normalizer.apply(x)

    def forward(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Normalised inputs → raw model outputs (N, out)."""
        import torch

        with torch.inference_mode():
            t = torch.as_tensor(x, device=self.device)
            return torch.cat([self.model(t[i:i + batch_size]) for i in range(0, len(t), batch_size)]).float().cpu().numpy()

    def to_array(self, x, what: str = "input") -> np.ndarray:
        """Any accepted input as the model's input array: texts (text runs), table rows as
        objects {feature: value}, or arrays in the training data's units."""
        if self.tokenizer is not None:
            if isinstance(x, np.ndarray) and x.dtype.kind == "i":  # token ids already
                return x
            return self.texts_to_array([x] if isinstance(x, str) else x, what)
        if self.spec.kind != "image" and isinstance(x, list) and x and all(isinstance(r, dict) for r in x):
            return self.rows_to_array(x, what)
        return self.check_array(x, what)

    def predict(self, x, batch_size: int = 1024, what: str = "input", reconstructions: bool = False) -> dict:
        """Inputs (see to_array) → predictions. Classification: {"predicted": names,
        "probabilities": (N, K) list}; regression: {"values": list}. A run with eval.conformal adds
        "prediction_sets" (classes) or "intervals" ([low, high] per value, per target when there are
        several) and their "coverage". A density's or an autoencoder's: see _surprise; with
        `reconstructions`, an autoencoder's also gives them ("reconstructions", an array in the data's
        units: a denoising autoencoder's inputs cleaned)."""
        if self.task.name == "segmentation":
            raise CheckpointError("A segmentation run predicts image files: trainlab predict RUN image.tif "
                                  "(or Predictor.segment_files), which writes probability maps and instance labels.")
        a = self.to_array(x, what)
        result = self._surprise(a, batch_size, reconstructions) if self.task.surprise_name else \
            self._predicted(a, batch_size)
        if self.spec.kind == "table":  # a row outside the training range: the model extrapolates
            off = self.normalizer.outside(a)
            if any(off):
                result["outside_training_range"] = [[self.spec.feature_names[j] for j in row] for row in off]
        return result

    def _predicted(self, a: np.ndarray, batch_size: int) -> dict:
        """A classifier's or a regression's predictions of the inputs `a` (see predict)."""
        import torch

        out = torch.as_tensor(self.forward(self.preprocess(a), batch_size))
        fitted = self.conformal
        if self.spec.target == "class":
            probs = self.task.probabilities(out).numpy()
            idx = self.task.predict(out).numpy()  # a binary run's decision threshold, as it was tested
            result = {"classes": list(self.spec.class_names), "predicted": [self.spec.class_names[i] for i in idx],
                      "probabilities": probs.round(6).tolist()}
            if fitted:  # the classes that hold the truth with the run's coverage
                result["prediction_sets"] = conformal.sets(fitted, probs, self.spec.class_names)
        else:
            result = {"values": self.task.predict(out).reshape(len(a), -1).squeeze(-1).tolist()}
            if fitted:
                result["intervals"] = conformal.intervals(fitted, np.asarray(result["values"]).reshape(len(a), -1))
        if fitted:
            result["coverage"] = fitted["coverage"]
        return result

    def _surprise(self, a: np.ndarray, batch_size: int, reconstructions: bool = False) -> dict:
        """A density's or an autoencoder's inputs → how unusual each is for the model: {"score": its name
        (nll, reconstruction_error), "scores": list, and where each falls among the test samples' scores:
        "percentiles" (the share below it, 0-100) and "unusual" (above UNUSUAL% of them), with the p-value
        of a binomial test that more are unusual than the (100 - UNUSUAL)% that inputs like them would be}."""
        import torch

        x = torch.as_tensor(self.preprocess(a), device=self.device)
        if reconstructions:
            if not hasattr(self.task, "reconstructed"):
                raise CheckpointError(f"Reconstructions come from an autoencoder or a VAE; this run's task is "
                                      f"{self.task.name!r}.")
            recon, score = self.task.reconstructed(self.model, x, batch_size)
        else:
            score = self.task.surprise(self.model, x, batch_size)
        result = {"score": self.task.surprise_name, "scores": score.tolist()}
        if reconstructions:
            result["reconstructions"] = self.normalizer.invert(recon.float().cpu().numpy().reshape(a.shape))
        of = (self.metrics.get("test") or {}).get("surprise_percentiles")
        if of:
            rank = percentile_rank(score, of)
            odd, p_value = unusual(rank)
            result.update(percentiles=rank.round(2).tolist(), unusual=odd.tolist(), unusual_above=float(of[UNUSUAL]),
                          unusual_p_value=p_value)
        return result

    def metadata(self) -> dict:
        return {
            "run": self.run_dir.name, "recipe": self.recipe.get("name"), "recipe_hash": self.recipe_hash,
            "model": self.recipe["model"]["name"], "task": self.task.name, "kind": self.spec.kind,
            "input_shape": list(self.spec.input_shape), "input_units": "as in the training data (e.g. 0-255 pixels)",
            "features": list(self.spec.feature_names), "classes": list(self.spec.class_names),
            **({"threshold": self.task.threshold} if getattr(self.task, "binary", False) else {}),
            **({"columns": list(self.spec.input_columns), "categories": self.spec.category_values}
               if self.spec.categories else {}),
            "preprocessing": self.normalizer.to_dict() if self.tokenizer is None else
            {"tokenizer": getattr(self.tokenizer, "name", "word-level, lower case"), "vocabulary": self.tokenizer.vocab_size,
             "max_len": self.tokenizer.max_len},
            "test_time_augmentation": self.tta,
            **({"conformal": self.conformal} if self.conformal else {}),
            "best_epoch": self.meta.get("epoch"),
            "val_loss": self.meta.get("val_loss"),
        }


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"Cannot read {str(path)!r} as a NumPy array: {err}.") from None


def per_recording(names: list[str], result: dict) -> list[dict] | None:
    """A windowed run's predictions of windows (names as read_files gives them) → each recording's, as the
    report scores a test recording: its windows' mean probabilities, the class of the highest (or their mean
    value). Rows {"input": the recording, "windows", "predicted", "p(class)" ...} or {..., "value"}, in the
    order the recordings first appear; None when the names are not windows or the model predicts neither."""
    from ..data.long import WINDOW_NAME
    from ..evaluate.grouped import group_means

    if not names or not all(WINDOW_NAME in n for n in names) or not ("probabilities" in result or "values" in result):
        return None
    owners = [n.rsplit(WINDOW_NAME, 1)[0] for n in names]
    _, first, counts, mean = group_means(owners, result.get("probabilities", result.get("values")))
    rows = []
    for g in np.argsort(first):
        row = {"input": owners[first[g]], "windows": int(counts[g])}
        if "probabilities" in result:
            row["predicted"] = result["classes"][int(mean[g].argmax())]
            row.update({f"p({k})": round(float(v), 6) for k, v in zip(result["classes"], mean[g])})
        else:
            row["value"] = float(mean[g, 0]) if mean.shape[1] == 1 else mean[g].tolist()
        rows.append(row)
    return rows
