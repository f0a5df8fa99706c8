"""Your own code in a run. A recipe's `plugins` names Python files (or importable modules) that
register models, datasets, losses and optimisers (`trainlab.register_model`, `register_dataset`,
`register_loss`, `register_optimizer`); they are imported before the recipe is checked, so their
entries are named, validated, trained, tested, exported and served like trainlab's own. A run
directory keeps a copy of each file (plugins/), its stored recipe names the copies, and resume,
predict, serve and export import those: the run is rebuilt from the code it was trained with,
wherever the directory goes.

A plugin file is imported once per content (its module is named by its SHA-256), so a run and its
copy share one module, and an edited file is a new module whose entries replace the old ones."""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import shutil
import sys
import traceback
from pathlib import Path
from types import ModuleType

from .core.config import plugin_is_file, plugin_paths
from .core.errors import RecipeError, TrainlabError

PREFIX = "trainlab_plugin_"  # a plugin file's module: trainlab_plugin_<stem>_<sha256[:12]>
FOLDER = "plugins"           # in a run directory: the copies of its plugin files


def load(entries) -> list[str]:
    """Import each plugin (a file once per content) and make the entries it registered the current
    ones; returns the modules' names."""
    from .registries import all_registries

    names = [(_import_file(Path(e)) if plugin_is_file(e) else _import_module(e)).__name__ for e in entries]
    for registry in all_registries().values():
        for name in names:
            registry.activate(name)
    return names


def load_stored(run_dir: Path) -> list[str]:
    """Import the plugins of a run directory, the copies its stored recipe names; returns those entries."""
    import tomllib

    f = Path(run_dir) / "recipe.toml"
    entries = plugin_paths(tomllib.loads(f.read_text()).get("plugins", []) if f.is_file() else [], Path(run_dir))
    load(entries)
    return entries


def ours(entry, modules: list[str]) -> bool:
    """Whether a registry entry comes from trainlab or from one of these plugin modules (or their submodules)."""
    module = entry.fn.__module__
    return entry.builtin or any(module == m or module.startswith(m + ".") for m in modules)


def keep(recipe: dict, folder: Path) -> dict:
    """The recipe as `folder` stores it: each plugin file copied into folder/plugins/ and named by
    its copy, relative to the folder (where the stored recipe lies)."""
    entries = recipe.get("plugins") or []
    if not any(plugin_is_file(e) for e in entries):
        return recipe
    (folder / FOLDER).mkdir(parents=True, exist_ok=True)
    stored, used = [], set()
    for e in entries:
        if not plugin_is_file(e):
            stored.append(e)
            continue
        src, name, i = Path(e), Path(e).name, 1
        while name in used:  # two files of one name from two folders
            i += 1
            name = f"{src.stem}-{i}.py"
        used.add(name)
        dest = folder / FOLDER / name
        if src.resolve() != dest.resolve():
            shutil.copyfile(src, dest)
        stored.append(f"{FOLDER}/{name}")
    return {**recipe, "plugins": stored}


def identity(recipe: dict) -> dict:
    """The recipe with each plugin file named by its content (sha256:...), not its path: two runs of
    the same code from different places (the original file, a run's copy) are the same recipe, and an
    edited file is another."""
    entries = recipe.get("plugins") or []
    if not entries:
        return recipe
    return {**recipe, "plugins": [f"sha256:{_digest(Path(e))}" if plugin_is_file(e) and Path(e).is_file() else e
                                  for e in entries]}


def provenance(recipe: dict) -> list[dict]:
    """Where each plugin's code comes from, for the methods text: a file's name and SHA-256, or a
    module's name and the version of the package installed that holds it."""
    from importlib import metadata

    out = []
    for e in recipe.get("plugins") or []:
        if plugin_is_file(e):
            if Path(e).is_file():
                out.append({"file": Path(e).name, "sha256": _digest(Path(e))})
            continue
        package = metadata.packages_distributions().get(e.split(".")[0], [None])[0]
        out.append({"module": e, "package": package, "version": metadata.version(package) if package else None})
    return out


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise RecipeError(f"Plugin file {str(path)!r} does not exist. `plugins` names Python files (relative to the "
                          "recipe file) or importable modules.")
    source = path.read_bytes()
    stem = re.sub(r"\W", "_", path.stem)
    name = f"{PREFIX}{stem}_{hashlib.sha256(source).hexdigest()[:12]}"
    if name in sys.modules:
        return sys.modules[name]
    module = importlib.util.module_from_spec(importlib.util.spec_from_file_location(name, path))
    sys.modules[name] = module
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)  # the bytes hashed are the code run
    except BaseException as err:
        del sys.modules[name]
        _forget(name)
        if isinstance(err, TrainlabError):
            raise type(err)(f"Plugin {str(path)!r}: {err}") from None
        if not isinstance(err, Exception):
            raise
        raise RecipeError(f"Plugin {str(path)!r} failed on import{_line(err, path)}: {type(err).__name__}: {err}."
                          + _sibling_hint(err, path)) from None
    return module


def _import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name and name.startswith(err.name):
            raise RecipeError(f"Plugin {name!r} is neither a .py file nor a module Python can import. Name a file "
                              "(my_models.py, relative to the recipe) or install your package (pip install -e .).") from None
        raise RecipeError(f"Plugin module {name!r} failed on import: {err}.") from None
    except TrainlabError:
        raise
    except Exception as err:
        raise RecipeError(f"Plugin module {name!r} failed on import: {type(err).__name__}: {err}.") from None


def _forget(module: str) -> None:
    """Entries a plugin registered before its import failed are not left behind."""
    from .registries import all_registries

    for registry in all_registries().values():
        registry.forget(module)


def _line(err: BaseException, path: Path) -> str:
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == str(path)]
    return f" at line {frames[-1].lineno}" if frames else ""


def _sibling_hint(err: Exception, path: Path) -> str:
    if isinstance(err, ModuleNotFoundError) and err.name and (
            (path.parent / f"{err.name}.py").is_file() or (path.parent / err.name).is_dir()):
        return (f" A plugin is one file: trainlab imports it alone (and keeps a copy with each run), so put what it "
                f"takes from {err.name!r} into it, or install that code as a package (pip install -e).")
    return ""
