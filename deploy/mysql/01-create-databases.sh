#!/bin/sh
# Sourced by the official MySQL image on the first start of an empty data volume
# (/docker-entrypoint-initdb.d). Creates the two databases the platform uses and one user per
# need, each with the least privilege it needs; passwords from the environment compose passes
# (values from .env):
#   mlflow        - MLflow's backend store: all privileges on `mlflow` only (MLflow migrates it)
#   app           - serving's prediction log and feedback: SELECT and INSERT on `app`
#   app_migrate   - the one-shot `app-migrate` (prediction-log migrations): DDL on `app`
#   app_read      - the orchestration worker (drift check, feedback export): SELECT on `app`
# No application user can change or delete a logged row (no UPDATE, DELETE) or the schema but
# app_migrate. An existing volume keeps its users: apply the same statements by hand as root
# (README, "Changing secrets for a real deployment").
: "${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD is required}"
: "${APP_DB_PASSWORD:?APP_DB_PASSWORD is required}"
: "${APP_MIGRATE_DB_PASSWORD:?APP_MIGRATE_DB_PASSWORD is required}"
: "${APP_READ_DB_PASSWORD:?APP_READ_DB_PASSWORD is required}"

docker_process_sql --database=mysql <<-EOSQL
	CREATE DATABASE IF NOT EXISTS mlflow CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
	CREATE DATABASE IF NOT EXISTS app CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
	CREATE USER IF NOT EXISTS 'mlflow'@'%' IDENTIFIED BY '${MLFLOW_DB_PASSWORD}';
	CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY '${APP_DB_PASSWORD}';
	CREATE USER IF NOT EXISTS 'app_migrate'@'%' IDENTIFIED BY '${APP_MIGRATE_DB_PASSWORD}';
	CREATE USER IF NOT EXISTS 'app_read'@'%' IDENTIFIED BY '${APP_READ_DB_PASSWORD}';
	GRANT ALL PRIVILEGES ON mlflow.* TO 'mlflow'@'%';
	GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, REFERENCES ON app.* TO 'app_migrate'@'%';
	GRANT SELECT, INSERT ON app.* TO 'app'@'%';
	GRANT SELECT ON app.* TO 'app_read'@'%';
	FLUSH PRIVILEGES;
EOSQL
