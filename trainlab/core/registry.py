"""One registry class for models, datasets, tasks, optimisers and schedules.

A builder registers with a decorator; its keyword-only parameters become the recipe keys of
its section, validated by a pydantic model derived from the signature, so a recipe can never
pass a key a builder does not take."""
from __future__ import annotations

import difflib
import inspect
import typing
from dataclasses import dataclass
from typing import Any, Callable

import pydantic

from .errors import RecipeError, RegistryError


def closest(name: str, choices) -> str | None:
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return match[0] if match else None


# parameter types with the ranges a builder accepts, checked with the recipe (before a run directory exists)
Count = typing.Annotated[int, pydantic.Field(ge=1)]  # units, layers, heads, channels, steps of a schedule
Size = typing.Annotated[int, pydantic.Field(ge=0)]
Positive = typing.Annotated[float, pydantic.Field(gt=0)]
NonNegative = typing.Annotated[float, pydantic.Field(ge=0)]
Fraction = typing.Annotated[float, pydantic.Field(ge=0, lt=1)]  # a decay, a momentum, a dropout
Share = typing.Annotated[float, pydantic.Field(ge=0, le=1)]  # a probability, a discount


def _params_model(name: str, fn: Callable) -> type[pydantic.BaseModel]:
    """A strict pydantic model of `fn`'s keyword-only parameters."""
    fields: dict[str, Any] = {}
    hints = typing.get_type_hints(fn, include_extras=True)  # Annotated validators (a task's loss key) included
    for p in inspect.signature(fn).parameters.values():
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        annotation = hints.get(p.name, Any)
        default = p.default if p.default is not inspect.Parameter.empty else ...
        fields[p.name] = (annotation, default)
    config = pydantic.ConfigDict(extra="forbid", strict=False, arbitrary_types_allowed=True)
    return pydantic.create_model(f"{name}_params", __config__=config, **fields)


def named(value) -> tuple:
    """A recipe value naming a registered entry: "name", or a table { name = "name", key = ... } →
    (the name, its keys). A table without a name gives (None, its keys)."""
    if isinstance(value, str):
        return value, {}
    return value.get("name"), {k: v for k, v in value.items() if k != "name"}


def builtin(fn: Callable) -> bool:
    """Whether `fn` is trainlab's own, not a user's (a plugin file, a notebook, a package of theirs)."""
    module = getattr(fn, "__module__", "") or ""
    return module == "trainlab" or module.startswith("trainlab.")


@dataclass(frozen=True)
class Entry:
    name: str
    fn: Callable
    params: type[pydantic.BaseModel]
    summary: str

    @property
    def builtin(self) -> bool:
        return builtin(self.fn)

    @property
    def where(self) -> str:
        """Where a user's entry is defined (its file, or its module), for errors and reports."""
        return inspect.getsourcefile(self.fn) or self.fn.__module__

    def validate(self, values: dict, section: str, also=()) -> dict:
        """Check `values` against this entry's parameters; errors name the recipe key. `also`: the keys the
        section takes besides (data.val_fraction beside the dataset's own), for an unknown key's hint."""
        try:
            return dict(self.params.model_validate(values))
        except pydantic.ValidationError as err:
            raise RecipeError(describe_validation_error(err, section, self.params, also)) from None

    def build(self, *args, **params):
        return self.fn(*args, **params)


class Registry:
    """Names → builders. `kind` is what the names are ("model", "dataset", ...)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._by_module: dict[str, dict[str, Entry]] = {}  # a user's module → what it registered

    def register(self, name: str) -> Callable:
        """A decorator registering a builder under `name`. A user's builder may replace another
        user's (a notebook cell run again, an edited plugin file), never one of trainlab's."""
        def decorator(fn: Callable) -> Callable:
            old = self._entries.get(name)
            if old is not None and old.builtin:
                assert not builtin(fn), f"{self.kind} {name!r} registered twice"
                raise RegistryError(f"{self.kind.capitalize()} {name!r} is built into trainlab; register yours under "
                                    f"another name ({fn.__qualname__} in {inspect.getsourcefile(fn) or fn.__module__}).")
            doc = " ".join((inspect.getdoc(fn) or "").split("\n\n")[0].split())  # the first paragraph
            entry = self._entries[name] = Entry(name, fn, _params_model(name, fn), doc)
            if not entry.builtin:
                self._by_module.setdefault(fn.__module__, {})[name] = entry
            return fn

        return decorator

    def activate(self, module: str) -> None:
        """Make the entries a user's module registered the current ones again (two versions of a plugin
        file loaded in one process: the recipe being resolved uses its own)."""
        self._entries.update(self._by_module.get(module, {}))

    def forget(self, module: str) -> None:
        """Drop what a user's module registered (its import failed half-way)."""
        for name, entry in self._by_module.pop(module, {}).items():
            if self._entries.get(name) is entry:
                del self._entries[name]

    def get(self, name: str) -> Entry:
        if name not in self._entries:
            hint = closest(name, self._entries)
            raise RegistryError(
                f"Unknown {self.kind} {name!r}. Valid {self.kind}{'es' if self.kind.endswith('s') else 's'}: "
                f"{', '.join(sorted(self._entries)) or 'none yet'}."
                + (f" Did you mean {hint!r}?" if hint else "")
            )
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: str) -> bool:
        return name in self._entries


def _section(ann):
    """The pydantic model a field holds: its annotation, or the model in an optional one (data: DataConfig | None)."""
    for a in (ann, *typing.get_args(ann)):
        if isinstance(a, type) and issubclass(a, pydantic.BaseModel):
            return a
    return None


def _fields_at(model, loc) -> list[str]:
    """The valid keys of the (sub)model that `loc` points into."""
    for part in loc:
        inner = _section(getattr(getattr(model, "model_fields", {}).get(part), "annotation", None))
        if inner is None:
            break
        model = inner
    return sorted(getattr(model, "model_fields", {}))


def describe_validation_error(err: pydantic.ValidationError, section: str, model, also=()) -> str:
    """Turn pydantic's error list into sentences that name key, value and expectation; `also`: other keys
    valid at the section's top level."""
    lines, bad = [], {}
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        while e["type"] not in ("extra_forbidden", "missing") and len(loc) > 1 \
                and loc[-1] not in _fields_at(model, loc[:-1]):  # a union's member ("float", "literal[...]")
            loc = loc[:-1]
        key = ".".join(([section] if section else []) + loc)
        if e["type"] == "extra_forbidden":
            valid = sorted({*_fields_at(model, loc[:-1]), *(() if loc[:-1] else also)})
            owner = ".".join(([section] if section else []) + loc[:-1]) or "top level"
            hint = closest(loc[-1], valid)
            msg = f"Unknown key {key!r} in [{owner}]."
            msg += f" Did you mean {hint!r}?" if hint else ""
            msg += f" Valid keys: {', '.join(valid)}." if valid else " It takes no keys."
        elif e["type"] == "value_error":
            msg = e["msg"].removeprefix("Value error, ")
            msg = msg[:1].upper() + msg[1:] + "."  # (not str.capitalize: names keep their capitals)
        elif e["type"] == "missing":
            msg = f"Missing required key {key!r}."
        else:  # one sentence per key: a union's members each say what they would have taken
            expected = e["msg"][:1].lower() + e["msg"][1:]
            if key in bad:
                bad[key][1].append(expected)
                continue
            bad[key] = (e.get("input"), [expected])
            msg = key
        lines.append(msg)
    return " ".join(f"Bad value for {m!r}: received {bad[m][0]!r}; {', or '.join(bad[m][1])}." if m in bad else m
                    for m in lines)
