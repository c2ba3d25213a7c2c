"""The model lifecycle: the daily retrain's steps (shared by the CLI and the Airflow DAGs), the
ranking evaluation they run, the promotion gate and the encoder's release."""
