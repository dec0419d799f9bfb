#!/bin/bash
# Applies the index schema to a fresh single-node ClickHouse server: run by the
# clickhouse/clickhouse-server image from /docker-entrypoint-initdb.d/ on the
# first start (empty data directory), while the server listens on 127.0.0.1 only.
#
# The schema is linkindex/sql/001_init.sql itself, mounted read-only at
# /linkgraph/sql/, with {db} bound to CLICKHOUSE_DB. The application runs the
# same file (all IF NOT EXISTS) when it connects, so this only makes the
# tables exist before the first consumer does.
set -eo pipefail

db="${CLICKHOUSE_DB:-linkgraph}"
schema=/linkgraph/sql/001_init.sql
client=(clickhouse-client --host 127.0.0.1 --user "${CLICKHOUSE_USER:-default}"
        --password "${CLICKHOUSE_PASSWORD:-}" --multiquery)

echo "linkgraph: applying $schema to database $db"
"${client[@]}" --query "CREATE DATABASE IF NOT EXISTS \`$db\`"
sed "s/{db}/$db/g" "$schema" | "${client[@]}"
