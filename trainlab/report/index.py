"""The runs index: every run registered in an SQLite database in its runs folder (recipe hash,
dataset, model, key metric, duration, status), so runs can be listed and compared."""
from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path

from ..core.errors import TrainlabError
from . import headline_keys

DB_NAME = "index.sqlite"
SCHEMA = """CREATE TABLE IF NOT EXISTS runs (
    path TEXT PRIMARY KEY, name TEXT, recipe_hash TEXT, dataset TEXT, model TEXT, task TEXT, status TEXT,
    created TEXT, updated TEXT, duration REAL, metric_name TEXT, metric REAL, metric_std REAL, repeats INTEGER)"""
COLUMNS = ("path", "name", "recipe_hash", "dataset", "model", "task", "status", "created", "updated", "duration",
           "metric_name", "metric", "metric_std", "repeats")


def _connect(runs_dir: Path) -> sqlite3.Connection:
    db = sqlite3.connect(runs_dir / DB_NAME, timeout=30)
    db.execute(SCHEMA)
    return db


def recipe_hash(recipe_dict: dict) -> str:
    return hashlib.sha256(json.dumps(recipe_dict, sort_keys=True).encode()).hexdigest()[:12]


def headline(metrics: dict) -> tuple[str | None, float | None, float | None, int]:
    """(metric name, value, std over repeats, repeats) that best summarises a run."""
    if not metrics:
        return None, None, None, 0
    if metrics.get("kind") == "rl":
        e = metrics["eval"]["greedy"]
        return "mean_return", e["mean"], e["std"], 1
    name = next((k for k in headline_keys(metrics) if k in metrics["test"]), "loss")
    rep = (metrics.get("repeats") or {}).get("test", {}).get(name)
    if rep:
        return name, rep["mean"], rep["std"], rep["n"]
    return name, metrics["test"][name], None, 1


def record(path: Path, recipe, status: str, metrics: dict | None = None, duration: float | None = None) -> None:
    from ..plugins import identity

    d = recipe.to_dict()
    name, value, std, n = headline(metrics or {})
    now = datetime.now().isoformat(timespec="seconds")
    row = {"path": str(path.resolve()), "name": recipe.name, "recipe_hash": recipe_hash(identity(d)),
           "dataset": (d.get("data") or d.get("env") or {}).get("name"), "model": d["model"]["name"],
           "task": "rl" if recipe.is_rl else d["task"]["name"], "status": status, "created": now, "updated": now,
           "duration": duration, "metric_name": name, "metric": value, "metric_std": std, "repeats": n}
    with closing(_connect(path.parent)) as db, db:
        old = db.execute("SELECT created FROM runs WHERE path = ?", (row["path"],)).fetchone()
        if old:
            row["created"] = old[0]
        db.execute(f"INSERT OR REPLACE INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                   [row[c] for c in COLUMNS])


def list_runs(runs_dir: Path, filters: list[str] = ()) -> list[dict]:
    """Runs, newest first. A filter is `column=value` (exact) or `column~text` (contains)."""
    if not (runs_dir / DB_NAME).is_file():
        return []
    where, args = [], []
    for f in filters:
        op = "~" if "~" in f else "=" if "=" in f else None
        if op is None:
            raise TrainlabError(f"Filter {f!r} is not column=value or column~text. Columns: {', '.join(COLUMNS)}.")
        col, value = f.split(op, 1)
        if col not in COLUMNS:
            raise TrainlabError(f"Unknown column {col!r} in filter {f!r}. Columns: {', '.join(COLUMNS)}.")
        where.append(f"{col} LIKE ?" if op == "~" else f"{col} = ?")
        args.append(f"%{value}%" if op == "~" else value)
    sql = "SELECT * FROM runs" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY created DESC, rowid DESC"
    with closing(_connect(runs_dir)) as db:
        return [dict(zip(COLUMNS, r)) for r in db.execute(sql, args).fetchall()]
