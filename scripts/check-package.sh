#!/usr/bin/env bash
# The wheel alone (no extras, no source tree) gives a working portal and worker: build it, install
# it into a clean virtualenv from the lock file, build the app and run one burst of the worker.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/9}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --upgrade pip
# setuptools warns about each template folder it carries as package data; show that only on failure.
"$work/venv/bin/pip" wheel --quiet --no-deps --wheel-dir "$work/dist" . 2>"$work/build.log" || { cat "$work/build.log"; exit 1; }
# Only the runtime part of the lock: the constraints pin versions without installing test packages.
"$work/venv/bin/pip" install --quiet --constraint requirements.lock "$work"/dist/*.whl

cd "$work"   # away from the source tree, so only the installed package can be imported
export DATABASE_URL="sqlite:///$work/portal.db" SECRET_KEY=package-check-secret-key-0123456789 REDIS_URL
"$work/venv/bin/portal" db upgrade 2>/dev/null
"$work/venv/bin/python" - <<'PY'
from portal import create_app

client = create_app().test_client()
for path in ("/signin", "/static/vendor/htmx.min.js"):
    status = client.get(path).status_code
    assert status == 200, f"{path} answered {status} from the installed wheel"
print("app factory, a page and htmx from the wheel: ok")
PY
"$work/venv/bin/portal" worker --burst 2>/dev/null
echo "portal worker --burst: ok"
