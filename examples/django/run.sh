#!/bin/sh
# One command to a running example: migrate the sqlite db, create the demo
# user, serve on $HOST:$PORT (default 127.0.0.1:8000) without the reloader.
# PYTHON defaults to /usr/bin/python3 (Debian's python3-django).
set -eu
cd "$(dirname "$0")"
PYTHON="${PYTHON:-/usr/bin/python3}"
"$PYTHON" manage.py migrate --noinput -v 0
"$PYTHON" manage.py ensure_demo_user
exec "$PYTHON" manage.py runserver "${HOST:-127.0.0.1}:${PORT:-8000}" --noreload
