"""Reports, the runs index and run comparison: everything a reader sees."""

# The metrics that summarise a run, by task, most important first (report cards, CLI tables,
# the runs index, comparisons). Lighter than the report module: no plotting imports.
HEADLINE = {"classification": ["accuracy", "balanced_accuracy", "f1_macro", "mcc", "cohen_kappa", "precision_macro",
                               "recall_macro", "average_precision_macro", "roc_auc", "loss"],
            "regression": ["r2", "rmse", "mae", "mse", "share_below_prediction", "loss"],
            "seq2seq": ["exact_sequence_accuracy", "token_accuracy", "loss"],
            "reconstruction": ["psnr", "psnr_gain", "roc_auc", "pr_auc", "mse", "loss"],
            "vae": ["elbo", "reconstruction", "kl", "mse", "loss"],
            "gan": ["fid_judge", "class_entropy", "mean_max_confidence", "fid_real_halves"],
            "density": ["nll", "gap_to_truth", "gaussian_nll", "bits_per_dim", "true_nll"],
            "segmentation": ["dice", "object_f1", "iou", "object_precision", "object_recall", "count_error"]}

LOWER_IS_BETTER = {"loss", "mse", "rmse", "mae", "nll", "gap_to_truth", "gaussian_nll", "bits_per_dim", "true_nll",
                   "fid_judge", "fid_real_halves", "reconstruction", "kl", "count_error", "group_rmse", "group_mae"}


def fmt(v) -> str:
    """A metric as the reports print it: 4 decimals, or 4 significant digits from 10,000 up (a list: one
    per target, each so)."""
    if isinstance(v, list):
        return ", ".join(map(fmt, v))
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1e4 else f"{v:.4g}"
    return "–" if v is None else str(v)


def pvalue(p: float) -> str:
    """A p-value as every report and command writes it: three decimals, or two significant digits below 0.001."""
    if p < 1e-300:  # (an exact test's tail underflows)
        return "p < 1e-300"
    return f"p = {p:.3f}" if p >= 0.001 else f"p = {p:.2g}"


def headline_keys(metrics: dict) -> list[str]:
    """The headline metric names of a run's metrics.json, by its task; the recipe's metrics of its own
    (eval.metrics) before the loss."""
    keys, own = HEADLINE[metrics["task"]["name"]], list((metrics.get("test") or {}).get("user_metrics") or {})
    return keys[:-1] + own + keys[-1:] if keys[-1] == "loss" else keys + own


def lower_is_better(key: str, metrics: dict) -> bool:
    """Whether a smaller value of this metric of the run is the better one."""
    own = ((metrics.get("test") or {}).get("user_metrics") or {}).get(key)
    return not own["higher_is_better"] if own else key in LOWER_IS_BETTER


def results_records(metrics: dict) -> list[dict]:
    """A run's test results, one record per headline metric: this run's value, its 95% interval (the
    test bootstrap for a single split, the t-interval of the mean over repeats), the mean and std over
    the repeats, and each baseline's value (mean and std over the repeats) on the same split(s)."""
    test, rep = metrics["test"], (metrics.get("repeats") or {}).get("test", {})
    boot = {} if rep else test.get("bootstrap") or {}  # with repeats, the spread over them says more
    base = (metrics.get("baselines") or {}).get("models", {})
    rep_base = (metrics.get("repeats") or {}).get("baselines", {})
    out = []
    for k in headline_keys(metrics):
        if k not in test:
            continue
        s = rep.get(k)
        out.append({"metric": k, "value": test[k], "interval": (s["ci95"] if s else boot.get(k)),
                    "mean": s["mean"] if s else None, "std": s["std"] if s else None,
                    "baselines": {n: (rep_base[n][k]["mean"], rep_base[n][k]["std"]) if n in rep_base else (b[k], None)
                                  for n, b in base.items() if k in b}})
    return out


def results_table(metrics: dict) -> tuple[list[str], list[list[str]]]:
    """(column names, rows of cells) of `results_records`, as the CLI prints them and the LaTeX table
    holds them."""
    rep = metrics.get("repeats")
    base = list((metrics.get("baselines") or {}).get("models", {}))
    records = results_records(metrics)
    boot = not rep and any(r["interval"] for r in records)
    columns = ["metric", "this run"]
    if boot:
        columns.append("95% interval (test bootstrap)")
    if rep:
        columns += [f"mean ± std over {len(rep['seeds'])} {'folds' if rep.get('folds') else 'seeds'}", "95% interval"]
    rows = []
    for r in records:
        interval = f"[{r['interval'][0]:.4f}, {r['interval'][1]:.4f}]" if r["interval"] else ""
        row = [r["metric"], f"{r['value']:.4f}"]
        if boot:
            row.append(interval)
        if rep:
            row += [f"{r['mean']:.4f} ± {r['std']:.4f}" if r["mean"] is not None else "", interval]
        for n in base:
            v = r["baselines"].get(n)
            row.append("" if v is None else f"{v[0]:.4f}" + (f" ± {v[1]:.4f}" if v[1] is not None else ""))
        rows.append(row)
    return columns + base, rows
