"""Reports, the runs index and run comparison: everything a reader sees."""

# The metrics that summarise a run, by target, most important first (report cards, CLI tables,
# the runs index, comparisons). Lighter than the report module: no plotting imports.
HEADLINE = {"class": ["accuracy", "balanced_accuracy", "f1_macro", "precision_macro", "recall_macro",
                      "average_precision_macro", "roc_auc", "loss"],
            "real": ["r2", "rmse", "mae", "mse", "loss"],
            "sequence": ["exact_sequence_accuracy", "token_accuracy", "loss"]}

LOWER_IS_BETTER = {"loss", "mse", "rmse", "mae"}
