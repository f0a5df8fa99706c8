"""Use a trained run: the Predictor (exact training preprocessing) and the HTTP service."""
