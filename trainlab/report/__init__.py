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
                   "fid_judge", "fid_real_halves", "reconstruction", "kl", "count_error"}


def fmt(v) -> str:
    """A metric as the reports print it: 4 decimals, or 4 significant digits from 10,000 up."""
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1e4 else f"{v:.4g}"
    return str(v)


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
