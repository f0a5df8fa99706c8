"""Metrics a screening study reports, as a plugin: the share of cancers found when only 5% of healthy
patients are recalled, and the Brier score of the predicted probabilities. Named in a recipe's
`eval.metrics`; trainlab scores them on the network's and every baseline's test predictions, with a
bootstrap interval (recipes/screening-breast-cancer.toml)."""
import numpy as np

import trainlab


@trainlab.register_metric("sensitivity_at_specificity")
def sensitivity_at_specificity(true, pred, scores, *, specificity: float = 0.95, positive: int = 1):
    """Share of the `positive` class found above the score threshold that keeps `specificity` of the others below it."""
    s = scores[:, positive]
    others, positives = s[true != positive], s[true == positive]
    if not len(others) or not len(positives):
        raise ValueError("needs samples of the positive class and of the others")
    threshold = np.quantile(others, specificity, method="higher")
    return float((positives > threshold).mean())


@trainlab.register_metric("brier", higher_is_better=False)
def brier(true, pred, scores):
    """Mean squared distance between the predicted probabilities and the one-hot truth (0 is perfect)."""
    return float(((scores - np.eye(scores.shape[1])[true]) ** 2).sum(1).mean())
