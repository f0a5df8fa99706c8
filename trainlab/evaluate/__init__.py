"""Evaluation: the one test pass, baselines, and robustness over repeated splits."""
