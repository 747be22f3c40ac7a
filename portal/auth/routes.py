"""Sign up, sign in, sign out and change password."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from portal.auth import signup as signups
from portal.auth import tokens  # noqa: F401 - the API token pages join the blueprint
from portal.auth import users
from portal.auth.blueprint import bp
from portal.auth.forms import ConfirmSignUpForm, PasswordForm, SignInForm, SignUpForm
from portal.emails import normalise_email
from portal.errors import ValidationError
from portal.extensions import db
from portal.models import SecurityEvent
from portal.services import services
from portal.web.forms import show_domain_error
from portal.web.guards import roles
from portal.web.home import home_for


def _safe_next(default: str) -> str:
    """Follow ``next`` only to a path on this site, and one that fits in a Location header (no line breaks)."""
    target = request.args.get("next", "")
    parts = urlsplit(target)
    printable = target.isprintable()
    if printable and target.startswith("/") and not target.startswith("//") and not parts.netloc and not parts.scheme:
        return target
    return default


def _start_session(user) -> None:
    session.clear()  # a new session id after sign-in: no fixation
    login_user(user, remember=False)
    session.permanent = user.is_customer
    session["signed_in_at"] = datetime.now(timezone.utc).timestamp()


def _too_many(template: str, form, wait: int, what: str):
    """The page again with a 429 and Retry-After: the throttle refused the attempt."""
    minutes = max(1, round(wait / 60))
    form.form_errors.append(f"Too many {what}. Please wait {minutes} minute{'s' if minutes > 1 else ''} and try again.")
    return render_template(template, form=form), 429, {"Retry-After": str(wait)}


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    """Start a customer account: the same answer for every address, the link to finish by e-mail
    (see portal/auth/signup.py)."""
    form = SignUpForm()
    if form.validate_on_submit():
        email = normalise_email(form.email.data)
        # Each sign-up sends an e-mail: counted per client and per address, never given back.
        attempt = services().signup_throttle.attempt(f"ip:{request.remote_addr}", f"email:{email}")
        if attempt.wait:
            return _too_many("auth/signup.html", form, attempt.wait, "sign-ups")
        try:
            signups.start(
                db.session, services().vault, email=email, password=form.password.data, name=form.name.data or "",
                next_path=_safe_next(""),
            )
        except ValidationError as error:
            show_domain_error(form, error)
        else:
            db.session.commit()
            return redirect(url_for("auth.signup_sent"))
    return render_template("auth/signup.html", form=form), 422 if form.errors else 200


@bp.get("/signup/sent")
def signup_sent():
    """Tell the visitor to open the link we e-mailed (whichever message it was)."""
    return render_template("auth/signup_sent.html")


@bp.route("/signup/confirm/<token>", methods=["GET", "POST"])
def signup_confirm(token: str):
    """Create the account a sign-up link carries, on a button press (mail scanners only open links)."""
    form = ConfirmSignUpForm()
    try:
        found = signups.pending(services().vault, token)
    except ValidationError as error:
        return render_template("auth/signup_confirm.html", form=None, problem=error.message), 400
    if form.validate_on_submit():
        try:
            user = signups.finish(db.session, found)
        except ValidationError as error:
            db.session.rollback()
            flash(error.message, "info")
            return redirect(url_for("auth.signin"))
        db.session.commit()
        _start_session(user)
        flash("Welcome to Giftloop! Your wallet is ready.", "success")
        return redirect(found.next or home_for(user))
    return render_template("auth/signup_confirm.html", form=form, email=found.email, problem=None)


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    """Sign in with e-mail and password; repeated failures are slowed down."""
    form = SignInForm()
    throttle = services().signin_throttle
    if form.validate_on_submit():
        email = (form.email.data or "").strip().lower()
        # Counted before the password is checked, so guesses sent together cannot pass the limit together.
        attempt = throttle.attempt(f"ip:{request.remote_addr}", f"email:{email}")
        if attempt.wait:
            return _too_many("auth/signin.html", form, attempt.wait, "sign-in attempts")
        try:
            user = users.authenticate(db.session, email, form.password.data)
        except ValidationError as error:  # the right password for a disabled account
            attempt.succeeded()
            db.session.commit()
            form.form_errors.append(error.message)
            return render_template("auth/signin.html", form=form), 403
        if user is None:
            for subject in attempt.failed():
                db.session.add(SecurityEvent(kind="signin_locked", subject=subject, detail="too many failed sign-ins"))
            db.session.commit()
            form.form_errors.append("That e-mail address and password don't match an account.")
            return render_template("auth/signin.html", form=form), 401
        attempt.succeeded()
        throttle.clear(f"email:{email}")
        db.session.commit()
        _start_session(user)
        return redirect(_safe_next(home_for(user)))
    return render_template("auth/signin.html", form=form), 422 if form.errors else 200


def _end_every_session(message: str):
    """End every session of the signed-in user, this one and copies of its cookie included."""
    if current_user.is_authenticated:
        users.end_sessions(current_user)
        db.session.commit()
    logout_user()
    session.clear()
    flash(message, "info")
    return redirect(url_for("auth.signin"))


@bp.post("/signout")
def signout():
    """Sign out. The user's session version moves on, so this signs out their other devices too."""
    return _end_every_session("You are signed out.")


@bp.get("/settings/sessions")
@roles("customer", "merchant", "admin")
def sessions():
    """Where the user is signed in, and the button that ends it everywhere."""
    return render_template("auth/sessions.html")


@bp.post("/settings/sessions/end")
@roles("customer", "merchant", "admin")
def sessions_end():
    """Sign out on every device, e.g. after signing in on a shared or lost one."""
    return _end_every_session("You are signed out on every device.")


@bp.route("/settings/password", methods=["GET", "POST"])
@roles("customer", "merchant", "admin")
def password():
    """Change the password; other sessions of this user end."""
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            users.change_password(current_user, form.current_password.data, form.new_password.data)
        except ValidationError as error:
            show_domain_error(form, error, {"password": "new_password"})
        else:
            db.session.commit()
            _start_session(current_user._get_current_object())  # this session carries the new version
            flash("Your password is changed.", "success")
            return redirect(home_for(current_user))
    return render_template("auth/password.html", form=form), 422 if form.errors else 200

