"""Data: reading (sources), the dataset registry, splitting, normalisation and loaders."""
