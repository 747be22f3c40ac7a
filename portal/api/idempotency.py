"""Idempotent API writes (DESIGN §5, after the IETF httpapi Idempotency-Key draft).

The first answer to a key is stored (encrypted) with a fingerprint of the request, in the same database
transaction as the money it moves. The same key and request get that answer again; another
request under the key gets 422 ``idempotency_conflict``; a request that arrives while the
first still runs gets 409 ``idempotency_in_progress`` with ``Retry-After``.

A view made ``idempotent(kept=…)`` may hand the record to a write that keeps it in its one
database call (``answer_record``; PostgreSQL): the call takes the key's lock, finds an earlier
answer, and on success stores the values its answer is written from, which ``kept`` writes the
same way the first time and on every replay. A refusal is recorded here, as for any view.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from datetime import timedelta

import sqlalchemy as sa
from flask import Response, current_app, g, request
from sqlalchemy.exc import IntegrityError

from portal.api.body import json_body
from portal.errors import DomainError
from portal.extensions import db
from portal.ledger.in_database import NO_RECORD, AnsweredEarlier, AnswerRecord, in_one_call
from portal.models import IdempotencyRecord, utcnow
from portal.services import services
from portal.web.problems import from_domain_error, problem

KEEP_FOR = timedelta(days=7)
MAX_KEY_LENGTH = 200


def fingerprint() -> str:
    """SHA-256 over method, path and the JSON body in canonical form."""
    try:
        body = json_body()
    except DomainError:  # a body the endpoint will refuse is fingerprinted as bytes
        body = None
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")) if body is not None else request.get_data(as_text=True)
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


def _lock_key(scope: str, key: str) -> int:
    """A signed 64-bit number naming (scope, key) for a PostgreSQL advisory lock."""
    return int.from_bytes(hashlib.sha256(f"{scope}\0{key}".encode()).digest()[:8], "big", signed=True)


def _try_lock(scope: str, key: str) -> bool:
    """Hold a transaction-scoped lock on the key; False when another request holds it."""
    if db.session.get_bind().dialect.name != "postgresql":
        return True  # SQLite has one writer at a time; the unique index settles the rest
    return bool(db.session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(_lock_key(scope, key)))))


def _lock_and_find(scope: str, key: str) -> tuple[bool, IdempotencyRecord | None]:
    """Take the key's lock and look for its stored answer, in one round trip.

    If the first request commits between this statement's snapshot and its lock, its answer is
    not seen here; the record's unique index then fails this run's commit, which undoes all of it
    and answers with the first run's record.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return True, _find(scope, key)  # as in _try_lock
    locked, record_id = db.session.execute(
        sa.select(sa.func.pg_try_advisory_xact_lock(_lock_key(scope, key)), _stored(scope, key).scalar_subquery())
    ).one()
    return bool(locked), db.session.get(IdempotencyRecord, record_id) if record_id is not None else None


def _seal(body: str) -> str:
    """The stored answer, encrypted: a card's first answer carries its full code."""
    return base64.b64encode(services().vault.encrypt(body)).decode()


def _unseal(stored: str) -> str:
    return services().vault.decrypt(base64.b64decode(stored))


def _replay(record: IdempotencyRecord, print_: str, kept=None) -> Response:
    if record.fingerprint != print_:
        return problem(
            "idempotency_conflict",
            "This Idempotency-Key was already used for a different request. Use a new key for a new request.",
        )
    if record.answer is not None:  # kept by the write's own call: written from its values
        response = current_app.make_response((kept(record.answer), record.response_status))
    else:
        response = current_app.response_class(_unseal(record.response_body), status=record.response_status)
        response.mimetype = "application/problem+json" if record.response_status >= 400 else "application/json"
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _stored(scope: str, key: str) -> sa.Select:
    return sa.select(IdempotencyRecord.id).where(
        IdempotencyRecord.scope == scope, IdempotencyRecord.key == key, IdempotencyRecord.expires_at > utcnow()
    )


def _find(scope: str, key: str) -> IdempotencyRecord | None:
    record_id = db.session.scalar(_stored(scope, key))
    return db.session.get(IdempotencyRecord, record_id) if record_id is not None else None


def answer_record() -> AnswerRecord:
    """The request's record for a write that keeps it in its one call (``idempotent(kept=…)``), or NO_RECORD."""
    return g.get("answer_record", NO_RECORD)


def kept_answer(values: dict) -> dict:
    """The answer written from the values the write's call kept with the record."""
    g.answer_kept = True
    return g.kept_answer(values)


IN_PROGRESS = "A request with this Idempotency-Key is still being processed. Try again shortly."


def idempotent(view=None, *, kept=None):
    """Run a write once per Idempotency-Key; the view flushes, this commits with the record.

    ``kept``: writes the view's answer from the values a one-call write keeps with the record.
    """
    if view is None:
        return functools.partial(idempotent, kept=kept)

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            return problem("validation_error", "Send an Idempotency-Key header with every write.", status=400)
        if len(key) > MAX_KEY_LENGTH:
            return problem("validation_error", f"An Idempotency-Key has at most {MAX_KEY_LENGTH} characters.", status=400)
        scope = f"token:{g.api_token.id} {request.method} {request.url_rule.rule}"
        print_ = fingerprint()
        g.idempotency = key
        if kept is not None and in_one_call(db.session):
            # The lock and the look-up are the write's own call's (AnsweredEarlier), or this one's on a refusal.
            g.answer_record = AnswerRecord(scope, key, print_, _lock_key(scope, key), utcnow() + KEEP_FOR)
            g.kept_answer = kept
        else:
            locked, earlier = _lock_and_find(scope, key)
            if not locked:
                return problem("idempotency_in_progress", IN_PROGRESS, headers={"Retry-After": "1"})
            if earlier is not None:
                db.session.rollback()
                return _replay(earlier, print_, kept)
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except AnsweredEarlier as taken:
            db.session.rollback()
            if taken.record_id is None:
                return problem("idempotency_in_progress", IN_PROGRESS, headers={"Retry-After": "1"})
            return _replay(db.session.get(IdempotencyRecord, taken.record_id), print_, kept)
        except DomainError as error:
            # A refusal changes nothing but is an answer all the same: replayed like a success.
            db.session.rollback()
            _try_lock(scope, key)
            response = from_domain_error(error)
        if response.status_code >= 500 or response.status_code == 429:
            # Not an answer to the request: a retry later must run it for real.
            db.session.rollback()
            return response
        if g.pop("answer_kept", False):
            db.session.commit()  # the record went with the money
            return response
        record = sa.insert(IdempotencyRecord).values(
            scope=scope, key=key, fingerprint=print_, response_status=response.status_code,
            response_body=_seal(response.get_data(as_text=True)), expires_at=utcnow() + KEEP_FOR,
        )
        try:
            db.session.execute(record)
            db.session.commit()
        except IntegrityError:
            # Another request with this key won a race the lock could not see (SQLite, or a
            # commit just before our lock): all of this run is undone and the first answers.
            db.session.rollback()
            earlier = _find(scope, key)
            if earlier is None:
                raise
            return _replay(earlier, print_, kept)
        return response

    wrapper.idempotent = True  # the document asks every caller of it for the header
    return wrapper


def request_key() -> str:
    """The current request's Idempotency-Key, as the domain's key for the ledger."""
    return f"api:{g.idempotency}"
