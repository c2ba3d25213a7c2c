"""A simulated job market with explicit ground truth (see `behaviour.py` for the apply model)."""
