"""Export a run's best model (ONNX, TorchScript, safetensors) with a model card and parity checks."""
