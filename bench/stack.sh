#!/usr/bin/env bash
# The multi-process deployment on one machine, for trying it and for the load bench: a throwaway PostgreSQL
# database, Chroma's server (`chroma run`), the bundled model server, 2 web processes (no jobs) and 1 job
# worker. Ctrl+C (or the end of the calling script) stops them all; logs are in $STACK_DIR.
#   bash bench/stack.sh            # web on http://127.0.0.1:8100
#   STACK_PORT=9000 STACK_WEB=4 STACK_WORKERS=2 bash bench/stack.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PORT=${STACK_PORT:-8100}
DIR=${STACK_DIR:-/tmp/triptych-stack}
DB=${STACK_DB:-triptych_stack}
PG=${STACK_PG:-postgresql://postgres@127.0.0.1:5432}
rm -rf "$DIR" && mkdir -p "$DIR"
psql "$PG/test" -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
export TRIPTYCH_DATABASE_URL="$PG/$DB"
export TRIPTYCH_CHROMA_URL="http://127.0.0.1:$((PORT + 1))"
export TRIPTYCH_DATA_DIR="$DIR/data"
export TRIPTYCH_SECRET_KEY="${TRIPTYCH_SECRET_KEY:-$($BIN/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')}"
export TRIPTYCH_SERVE_LOCAL_MODEL=false
export TRIPTYCH_LOCAL_MODEL_URL="http://127.0.0.1:$((PORT + 2))/v1"
export TRIPTYCH_LOAD_DEMO="${STACK_DEMO:-false}" TRIPTYCH_DEMO_FINETUNE=false
export TRIPTYCH_LOG_FORMAT=json
export PROMETHEUS_MULTIPROC_DIR="$DIR/metrics" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
trap 'trap - EXIT; kill $(jobs -p) 2>/dev/null; wait' EXIT INT TERM
$BIN/chroma run --path "$DIR/chroma" --host 127.0.0.1 --port $((PORT + 1)) >"$DIR/chroma.log" 2>&1 &
$BIN/python -m app.localmodels --host 127.0.0.1 --port $((PORT + 2)) >"$DIR/model.log" 2>&1 &
$BIN/triptych migrate
$BIN/triptych serve --port "$PORT" --workers "${STACK_WEB:-2}" --no-jobs >"$DIR/web.log" 2>&1 &
for i in $(seq 1 "${STACK_WORKERS:-1}"); do
  $BIN/triptych worker >"$DIR/worker-$i.log" 2>&1 &
done
until curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; do sleep 0.5; done
echo "stack ready: http://127.0.0.1:$PORT (API token in $DIR/data/api-token; logs in $DIR)"
wait
