#!/bin/sh
# The two database roles of Ankommen (docs/database-roles.md):
#   ankommen_owner  owns the database and schema, runs `migrate` and `grant_app_role`;
#   ankommen_app    the web, worker and beat connection: rows only, no TRUNCATE, no DDL.
# The postgres image runs this once, as the superuser, on the first start of an empty data
# volume (/docker-entrypoint-initdb.d). It is idempotent: for an existing installation run it
# by hand (docs/database-roles.md, "Existing installations").
set -eu
: "${POSTGRES_DB:?}" "${OWNER_DB_PASSWORD:?set OWNER_DB_PASSWORD}" "${APP_DB_PASSWORD:?set APP_DB_PASSWORD}"

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "$POSTGRES_DB" \
    -v db="$POSTGRES_DB" -v owner_pw="$OWNER_DB_PASSWORD" -v app_pw="$APP_DB_PASSWORD" <<'SQL'
SELECT 'CREATE ROLE ankommen_owner'
    WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ankommen_owner') \gexec
SELECT 'CREATE ROLE ankommen_app'
    WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ankommen_app') \gexec
ALTER ROLE ankommen_owner WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS
    PASSWORD :'owner_pw';
ALTER ROLE ankommen_app WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS
    PASSWORD :'app_pw';

ALTER DATABASE :"db" OWNER TO ankommen_owner;
ALTER SCHEMA public OWNER TO ankommen_owner;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO ankommen_app;
GRANT USAGE ON SCHEMA public TO ankommen_app;

-- Tables and sequences the owner creates later (every migration) are usable by the app at
-- once; `manage.py grant_app_role` then takes UPDATE and DELETE on the audit log away again.
ALTER DEFAULT PRIVILEGES FOR ROLE ankommen_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ankommen_app;
ALTER DEFAULT PRIVILEGES FOR ROLE ankommen_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO ankommen_app;
SQL
