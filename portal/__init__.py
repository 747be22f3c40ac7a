"""Giftloop: gift cards, wallet credit and loyalty points in one portal."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import config


class Portal(Flask):
    """Flask, asking once per view or hook whether it is a coroutine rather than on every call:
    a dozen hooks run on every request, and the question cost more than some of them."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict = {}

    def ensure_sync(self, func):
        sync = self._sync.get(func)
        if sync is None:
            sync = self._sync[func] = super().ensure_sync(func)
        return sync


def create_app(test_config: dict | None = None) -> Flask:
    """Build the application: settings, extensions, security, blueprints, CLI."""
    app = Portal(
        "portal",
        template_folder=str(config.ROOT / "templates"),
        static_folder=str(config.ROOT / "static"),
        instance_path=str(config.INSTANCE),
    )
    app.config.from_object(config.Defaults)
    app.config.update(config.from_environment())
    if test_config:
        app.config.update(test_config)
        app.config["SQLALCHEMY_DATABASE_URI"] = config.database_url(
            app.config["SQLALCHEMY_DATABASE_URI"]
        )

    _trust_proxies(app)

    # Imported here, not above: they import the models and the domain, which import ``portal``.
    import portal.events  # noqa: F401 - subscribes the events of transactions to the ledger's posts
    from portal import auth, cli, services
    from portal.extensions import csrf, db, migrate
    from portal.web import bounds, compression, errors, filters, logs, nul_guard, redis_batch, security, sessions

    db.init_app(app)
    migrate.init_app(app, db, directory=str(config.ROOT / "migrations"))
    bounds.init_app(app)  # before CSRF protection, which reads the form
    _protect_forms(app, csrf)
    sessions.init_app(app)
    services.init_app(app)
    auth.init_app(app)
    compression.init_app(app)  # registered first so it runs last, on the final body
    security.init_app(app)
    nul_guard.init_app(app)
    filters.init_app(app)
    errors.init_app(app)
    logs.init_app(app)
    redis_batch.init_app(app)
    _register_blueprints(app)
    cli.init_app(app)
    return app


def _protect_forms(app: Flask, csrf) -> None:
    """Flask-WTF's CSRF check, asked only of the methods it checks: its own hook looks up the
    view's exemption first, on every request, a page load included."""
    checks = app.config.get("WTF_CSRF_CHECK_DEFAULT", True)
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # its own hook stands aside for this one
    csrf.init_app(app)
    if not checks:
        return

    @app.before_request
    def _check_csrf():
        if app.config["WTF_CSRF_ENABLED"] and request.method in app.config["WTF_CSRF_METHODS"]:
            csrf.protect(apply_exemptions=True)


def _trust_proxies(app: Flask) -> None:
    """Behind ``TRUSTED_PROXY_HOPS`` reverse proxies, take the client's address and scheme from the
    headers they add: the guessing and sign-in limits count the real address, not the proxy's.
    With none (the default) those headers are ignored, as anyone could send them."""
    hops = app.config.get("TRUSTED_PROXY_HOPS", 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)


def _register_blueprints(app: Flask) -> None:
    # Imported here, as in create_app: the blueprints import the domain, which imports ``portal``.
    from portal.admin import bp as admin_bp
    from portal.api import bp as api_bp
    from portal.auth.routes import bp as auth_bp
    from portal.customer import bp as customer_bp
    from portal.extensions import csrf
    from portal.merchant import bp as merchant_bp
    from portal.public import bp as public_bp
    from portal import shop

    app.register_blueprint(public_bp)
    shop.init_app(app)
    app.register_blueprint(shop.bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(customer_bp, url_prefix="/wallet")
    app.register_blueprint(merchant_bp, url_prefix="/till")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    # The API authenticates each request by bearer token, not by cookie, so CSRF does not apply.
    csrf.exempt(api_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
