#!/bin/sh
# Sourced by the official MySQL image on the first start of an empty data volume
# (/docker-entrypoint-initdb.d). Creates the two databases the platform uses, each with its own
# user, passwords taken from the environment compose passes (values from .env):
#   mlflow  - MLflow's backend store (experiments, runs, registered models)
#   app     - the application database (serving's prediction log + feedback)
: "${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD is required}"
: "${APP_DB_PASSWORD:?APP_DB_PASSWORD is required}"

docker_process_sql --database=mysql <<-EOSQL
	CREATE DATABASE IF NOT EXISTS mlflow CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
	CREATE DATABASE IF NOT EXISTS app CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
	CREATE USER IF NOT EXISTS 'mlflow'@'%' IDENTIFIED BY '${MLFLOW_DB_PASSWORD}';
	CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY '${APP_DB_PASSWORD}';
	GRANT ALL PRIVILEGES ON mlflow.* TO 'mlflow'@'%';
	GRANT ALL PRIVILEGES ON app.* TO 'app'@'%';
	FLUSH PRIVILEGES;
EOSQL
