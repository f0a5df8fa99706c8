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


def _params_model(name: str, fn: Callable) -> type[pydantic.BaseModel]:
    """A strict pydantic model of `fn`'s keyword-only parameters."""
    fields: dict[str, Any] = {}
    hints = typing.get_type_hints(fn)
    for p in inspect.signature(fn).parameters.values():
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        annotation = hints.get(p.name, Any)
        default = p.default if p.default is not inspect.Parameter.empty else ...
        fields[p.name] = (annotation, default)
    config = pydantic.ConfigDict(extra="forbid", strict=False, arbitrary_types_allowed=True)
    return pydantic.create_model(f"{name}_params", __config__=config, **fields)


@dataclass(frozen=True)
class Entry:
    name: str
    fn: Callable
    params: type[pydantic.BaseModel]
    summary: str

    def validate(self, values: dict, section: str) -> dict:
        """Check `values` against this entry's parameters; errors name the recipe key."""
        try:
            return dict(self.params.model_validate(values))
        except pydantic.ValidationError as err:
            raise RecipeError(describe_validation_error(err, section, self.params)) from None

    def build(self, *args, **params):
        return self.fn(*args, **params)


class Registry:
    """Names → builders. `kind` is what the names are ("model", "dataset", ...)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str) -> Callable:
        def decorator(fn: Callable) -> Callable:
            assert name not in self._entries, f"{self.kind} {name!r} registered twice"
            doc = " ".join((inspect.getdoc(fn) or "").split("\n\n")[0].split())  # the first paragraph
            self._entries[name] = Entry(name, fn, _params_model(name, fn), doc)
            return fn

        return decorator

    def get(self, name: str) -> Entry:
        if name not in self._entries:
            hint = closest(name, self._entries)
            raise RegistryError(
                f"Unknown {self.kind} {name!r}. Valid {self.kind}s: {', '.join(sorted(self._entries))}."
                + (f" Did you mean {hint!r}?" if hint else "")
            )
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: str) -> bool:
        return name in self._entries


def _fields_at(model, loc) -> list[str]:
    """The valid keys of the (sub)model that `loc` points into."""
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, pydantic.BaseModel)):
            break
        model = ann
    return sorted(getattr(model, "model_fields", {}))


def describe_validation_error(err: pydantic.ValidationError, section: str, model) -> str:
    """Turn pydantic's error list into sentences that name key, value and expectation."""
    lines, bad = [], {}
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        while e["type"] not in ("extra_forbidden", "missing") and len(loc) > 1 \
                and loc[-1] not in _fields_at(model, loc[:-1]):  # a union's member ("float", "literal[...]")
            loc = loc[:-1]
        key = ".".join(([section] if section else []) + loc)
        if e["type"] == "extra_forbidden":
            valid = _fields_at(model, loc[:-1])
            owner = ".".join(([section] if section else []) + loc[:-1]) or "top level"
            hint = closest(loc[-1], valid)
            msg = f"Unknown key {key!r} in [{owner}]."
            msg += f" Did you mean {hint!r}?" if hint else ""
            msg += f" Valid keys: {', '.join(valid)}."
        elif e["type"] == "value_error":
            msg = e["msg"].removeprefix("Value error, ").capitalize() + "."
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
