"""Offline evaluation: ranking metrics, significance tests and retrieval benchmarks."""
