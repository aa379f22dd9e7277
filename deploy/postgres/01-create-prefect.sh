#!/bin/sh
# Sourced by the official postgres image on the first start of an empty data volume
# (/docker-entrypoint-initdb.d), as the superuser POSTGRES_USER on the local socket. The
# superuser stays with the postgres container; the Prefect server logs in as `prefect`, a plain
# role (no SUPERUSER, CREATEDB or CREATEROLE) that owns its database `prefect` and nothing else.
# pg_trgm (Prefect's migrations create it) is created here by the superuser. The password is
# passed as a psql variable (:'password' quotes it), never spliced into the SQL text. An existing
# volume keeps its roles: apply the same statements by hand (README, "Changing secrets ...").

: "${PREFECT_DB_PASSWORD:?PREFECT_DB_PASSWORD is required}"

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v password="$PREFECT_DB_PASSWORD" <<-'EOSQL'
	CREATE ROLE prefect LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
	CREATE DATABASE prefect OWNER prefect;
	\connect prefect
	CREATE EXTENSION IF NOT EXISTS pg_trgm;
EOSQL
