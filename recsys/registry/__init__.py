"""The model registry (MLflow) and the promotion gate between challenger and champion."""
