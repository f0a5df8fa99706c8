import numpy as np
import pytest

from trainlab.evaluate.baselines import over_repeats, paired_test


def test_mcnemar_counts_the_samples_only_one_model_gets_right():
    true = np.zeros(40, int)
    net = np.zeros(40, int)
    base = np.zeros(40, int)
    net[:3] = 1  # wrong where the baseline is right: 3
    base[3:15] = 1  # wrong where the network is right: 12
    net[15:20] = base[15:20] = 1  # both wrong: not counted
    t = paired_test(true, net, base, classes=True)
    assert (t["network_only"], t["baseline_only"]) == (12, 3)
    # exact two-sided binomial: 2 · P(X ≤ 3), X ~ Bin(15, ½) = 2 · (1 + 15 + 105 + 455) / 2¹⁵
    assert t["p_value"] == pytest.approx(2 * 576 / 2 ** 15)
    assert paired_test(true, net, net, classes=True)["p_value"] == 1.0


def test_wilcoxon_on_absolute_errors_tells_a_closer_model_from_chance():
    rng = np.random.default_rng(0)
    true = rng.normal(size=300)
    close, far = true + 0.1 * rng.normal(size=300), true + rng.normal(size=300)
    t = paired_test(true, close, far, classes=False)
    assert t["network_only"] > 250 and t["p_value"] < 1e-10
    same = paired_test(true, true + rng.normal(size=300), true + rng.normal(size=300), classes=False)
    assert same["p_value"] > 0.01 and paired_test(true, close, close, classes=False)["p_value"] == 1.0


def test_over_repeats_is_a_paired_t_test():
    from scipy import stats

    net, base = [0.91, 0.93, 0.90, 0.94], [0.88, 0.92, 0.86, 0.90]
    t = over_repeats(net, base)
    assert t["p_value"] == pytest.approx(stats.ttest_rel(net, base).pvalue)
    assert t["mean_difference"] == pytest.approx(0.03)
    assert over_repeats([0.9, 0.9], [0.8, 0.8])["p_value"] == 0.0  # a constant difference
