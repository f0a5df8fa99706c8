"""Atomic, self-describing checkpoints: tensors in safetensors, everything else in a JSON
file that names the tensor file and its SHA-256. Nothing is ever unpickled.

Writing is atomic: the tensor file gets a new name, then `<name>.json` is replaced in one
`os.replace`. A crash at any moment leaves the previous checkpoint whole."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..core.errors import CheckpointError

FORMAT = 1


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save(folder: Path, name: str, tensors: dict, meta: dict) -> None:
    from safetensors.torch import save as st_save

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    blob = st_save(tensors)
    tag = hashlib.sha256(blob).hexdigest()
    tensor_file = folder / f"{name}-{tag[:12]}.safetensors"
    _write_atomic(tensor_file, blob)
    index = {"format": FORMAT, "tensors": tensor_file.name, "sha256": tag, "bytes": len(blob), "meta": meta}
    _write_atomic(folder / f"{name}.json", json.dumps(index, indent=1).encode())
    for old in folder.glob(f"{name}-*.safetensors"):  # earlier versions of this checkpoint
        if old != tensor_file:
            old.unlink(missing_ok=True)


def exists(folder: Path, name: str) -> bool:
    return (folder / f"{name}.json").is_file()


def load(folder: Path, name: str) -> tuple[dict, dict]:
    """(tensors, meta). A missing, truncated or altered checkpoint is a CheckpointError."""
    from safetensors.torch import load as st_load

    index_file = folder / f"{name}.json"
    try:
        index = json.loads(index_file.read_text())
        tensor_file = folder / index["tensors"]
        blob = tensor_file.read_bytes()
    except FileNotFoundError as err:
        raise CheckpointError(f"Checkpoint {str(index_file)!r} is missing ({err.filename}).") from None
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"Checkpoint index {str(index_file)!r} is corrupt: {err}.") from None
    if index.get("format") != FORMAT:
        raise CheckpointError(f"Checkpoint {str(index_file)!r} has format {index.get('format')}; this trainlab reads {FORMAT}.")
    if len(blob) != index.get("bytes") or hashlib.sha256(blob).hexdigest() != index.get("sha256"):
        raise CheckpointError(f"Checkpoint {str(tensor_file)!r} does not match its SHA-256 in {index_file.name}: "
                              "it was truncated or modified. Refusing to load it.")
    try:
        return st_load(blob), index["meta"]
    except Exception as err:  # safetensors raises its own error type for a malformed header
        raise CheckpointError(f"Checkpoint {str(tensor_file)!r} is not a valid safetensors file: {err}.") from None


# --- optimiser state as flat tensors + JSON ---

def optimizer_to_flat(state_dict: dict, prefix: str = "optim") -> tuple[dict, dict]:
    import torch

    tensors, rest = {}, {"param_groups": state_dict["param_groups"], "state": {}}
    for pid, st in state_dict["state"].items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"{prefix}.{pid}.{k}"] = v
            else:
                rest["state"].setdefault(str(pid), {})[k] = v
    return tensors, rest


def optimizer_from_flat(tensors: dict, rest: dict, prefix: str = "optim") -> dict:
    state: dict = {int(pid): dict(st) for pid, st in rest["state"].items()}
    for key, v in tensors.items():
        if key.startswith(prefix + "."):
            _, pid, k = key.split(".", 2)
            state.setdefault(int(pid), {})[k] = v
    return {"state": state, "param_groups": rest["param_groups"]}


def save_arrays(path: Path, arrays: dict) -> None:
    """Named numpy arrays (pictures for the report) as one .npz file, written atomically."""
    import io

    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    _write_atomic(path, buf.getvalue())


def load_arrays(path: Path) -> dict:
    import numpy as np

    with np.load(path) as f:
        return {k: f[k] for k in f.files}
