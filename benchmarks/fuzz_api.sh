#!/usr/bin/env bash
# Fuzz the HTTP API with the schemathesis CLI and every check (`--checks all`), against the
# production entry point (gunicorn, service/http/gunicorn_conf.py) on PostgreSQL. Run on demand, not
# in CI (a few minutes):
#
#     bash benchmarks/fuzz_api.sh                 # 50 examples per operation and phase
#     FUZZ_MAX_EXAMPLES=200 bash benchmarks/fuzz_api.sh --seed 1   # extra args go to schemathesis
#
# Steps: a fresh schema in the database of ALLOCATOR_TEST_POSTGRES_URL (default
# postgresql+psycopg://postgres@127.0.0.1:5432/test); `allocator db upgrade`; an admin token
# (`allocator token create`); gunicorn on a free loopback port; `schemathesis run`; then the
# server is stopped, the schema dropped and the temporary folder removed, whatever happened.
# Exit status: schemathesis's (0 = no failure). The report (JUnit + NDJSON) is kept in
# $FUZZ_REPORT_DIR (default out/fuzz-api, ignored by git). Last lines: gunicorn's own count of the
# responses by status, and of server errors (5xx), with their tracebacks if any.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="${FUZZ_BIN:-$ROOT/.venv/bin}"
PG_URL="${ALLOCATOR_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-50}"
REPORT_DIR="${FUZZ_REPORT_DIR:-$ROOT/out/fuzz-api}"
mkdir -p "$REPORT_DIR" && REPORT_DIR="$(cd "$REPORT_DIR" && pwd)"
SCHEMA="fuzz_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
TMP="$(mktemp -d -t fuzz-api-XXXXXX)"
SERVER_PID=""

pg() { # run one SQL statement on the admin URL
    "$BIN/python" - "$PG_URL" "$1" <<'EOF'
import sys
import sqlalchemy as sa
engine = sa.create_engine(sys.argv[1])
with engine.begin() as conn:
    conn.execute(sa.text(sys.argv[2]))
engine.dispose()
EOF
}

cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    pg "DROP SCHEMA IF EXISTS \"$SCHEMA\" CASCADE" || true
    rm -rf "$TMP"
}
trap cleanup EXIT

pg "CREATE SCHEMA \"$SCHEMA\""
case "$PG_URL" in *\?*) SEP="&" ;; *) SEP="?" ;; esac
export ALLOCATOR_DATABASE_URL="${PG_URL}${SEP}options=-csearch_path%3D${SCHEMA}"
export ALLOCATOR_INSTANCE_PATH="$TMP"
unset ALLOCATOR_ENV
"$BIN/allocator" db upgrade >/dev/null
TOKEN="$("$BIN/allocator" token create --role admin --label fuzz | grep -Eo '[A-Za-z0-9_-]{20,}' | tail -n 1)"

PORT="$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$BIN/gunicorn" -c python:service.http.gunicorn_conf --bind "127.0.0.1:$PORT" \
    --access-logfile "$TMP/access.log" --access-logformat '%(s)s %(m)s %(U)s' \
    'service:create_app()' 2>"$TMP/gunicorn.log" &
SERVER_PID=$!
for _ in $(seq 1 150); do
    curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/gunicorn.log"; exit 1; }
    sleep 0.2
done
echo "gunicorn on 127.0.0.1:$PORT, schema $SCHEMA, $MAX_EXAMPLES examples per operation"

status=0
cd "$TMP" # schemathesis keeps its cache (.schemathesis/) in the working directory
"$BIN/schemathesis" run "http://127.0.0.1:$PORT/openapi.json" \
    --checks all \
    --header "Authorization: Bearer $TOKEN" \
    --max-examples "$MAX_EXAMPLES" \
    --workers 1 \
    --request-timeout 120 \
    --suppress-health-check all \
    --generation-database none \
    --no-color \
    --report junit,ndjson --report-dir "$REPORT_DIR" \
    "$@" || status=$?
# The server's own count, independent of schemathesis: every response in gunicorn's access log.
cd "$ROOT"
total="$(wc -l <"$TMP/access.log")"
errors="$(grep -c '^5' "$TMP/access.log" || true)"
echo "gunicorn access log: $total responses, $errors server errors (5xx)"
cut -d' ' -f1 "$TMP/access.log" | sort | uniq -c | sort -rn | tr '\n' ' '
echo
if [ "$errors" != 0 ]; then
    grep '^5' "$TMP/access.log" | sort | uniq -c | head -n 50
    grep -A30 "erreur interne" "$TMP/gunicorn.log" | head -n 300
fi
exit "$status"
