"""The engine: runtime (devices, precision), optimisers and schedules, the loop, checkpoints."""
