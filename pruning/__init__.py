"""PyTorch-only pruning library (public names re-exported here)."""
