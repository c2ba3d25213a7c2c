"""The model registry (MLflow): runs, versions and the champion / challenger aliases.

The promotion gate that moves them is `recsys.lifecycle.promotion`.
"""
