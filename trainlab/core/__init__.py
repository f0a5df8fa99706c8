"""Pieces every layer may import: errors, the registry, recipe models, the data→model contract."""
