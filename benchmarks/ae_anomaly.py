"""Anomaly detection with an autoencoder, each Fashion-MNIST class held out in turn: trains
recipes/ae-anomaly.toml once per class and prints the ROC-AUC / PR-AUC table and one JSON line.
Usage: python benchmarks/ae_anomaly.py [--classes 0 1 ...] [--set train.epochs=5 ...]"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
import trainlab  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--classes", type=int, nargs="*", default=list(range(10)))
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as runs:
        for c in args.classes:
            t0 = time.perf_counter()
            r = trainlab.run(REPO / "recipes" / "ae-anomaly.toml",
                             [f"task.anomaly_classes=[{c}]", "report.html=false", *args.overrides],
                             runs_dir=runs, progress=False)
            t = r.metrics["test"]
            rows.append({"held_out": t["anomaly"]["held_out"][0], "roc_auc": round(t["roc_auc"], 4),
                         "pr_auc": round(t["pr_auc"], 4), "seconds": round(time.perf_counter() - t0, 1)})
            print(f"| {rows[-1]['held_out']} | {rows[-1]['roc_auc']:.4f} | {rows[-1]['pr_auc']:.4f} | {rows[-1]['seconds']} s |",
                  flush=True)
    mean = sum(r["roc_auc"] for r in rows) / len(rows)
    print(json.dumps({"benchmark": "ae_anomaly", "rows": rows, "mean_roc_auc": round(mean, 4),
                      "all_above_chance": all(r["roc_auc"] > 0.5 for r in rows)}))


if __name__ == "__main__":
    main()
