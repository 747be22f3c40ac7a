"""The portal plus its ceiling endpoints, for ``gunicorn bench.wsgi:app`` in benchmarks only."""

from bench.ceilings import bp
from portal import create_app
from portal.web.guards import protect

protect(bp, None)  # open: the ceilings measure the framework, not sign-in
app = create_app()
app.register_blueprint(bp)
