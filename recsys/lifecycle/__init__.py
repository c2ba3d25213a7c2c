"""The model lifecycle: the daily retrain's steps, shared by the CLI and the Airflow DAGs."""
