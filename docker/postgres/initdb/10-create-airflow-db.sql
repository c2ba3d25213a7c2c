-- Runs once, when the postgres volume is first initialised (docker-entrypoint-initdb.d), as
-- POSTGRES_USER connected to POSTGRES_DB (mlflow). MLflow and Airflow share the server but not
-- a database: each runs its own schema migrations and can be backed up or dropped alone.
CREATE DATABASE airflow;
-- The catalog (postings, seeker profiles) that every API replica shares (RECSYS_DATABASE_URL).
CREATE DATABASE recsys;
