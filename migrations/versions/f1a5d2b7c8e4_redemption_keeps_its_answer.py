"""A redemption through the API in one round trip: giftloop_redeem finds the card by its code and
keeps the request's idempotency record itself (issue 24)

The API's idempotency wrapper took the key's lock and looked for a stored answer, the view looked
the card up, the call paid, and the wrapper stored the answer: four round trips around one. Now
the call does all of it: the key's advisory lock (``in_progress`` if another request holds it),
the look-up of an answer kept under the key (``stored``, with the record's id, for the wrapper
to replay or refuse), the card by id, by its code's keyed hash or by a QR token's code id
(``no_card``; the ledger's request hash is then made around the card's id as
``portal.ledger.fingerprint`` makes it), the payment, and the record. A record written by the call keeps the values its
answer is written from (``answer``, JSON: nothing secret, a masked code) rather than a sealed
body; the API writes the first answer and every replay from them alike
(``portal.api.cards.redemption_answer``). The card's rules stay in ``giftloop_card_usable``.

Revision ID: f1a5d2b7c8e4
Revises: d8e3b0f5a2c9
Create Date: 2026-12-07 20:05:00

"""
import importlib.util
from pathlib import Path

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f1a5d2b7c8e4'
down_revision = 'd8e3b0f5a2c9'
branch_labels = None
depends_on = None

OLD_SIGNATURE = """giftloop_redeem(bigint, bigint, text, bigint, text, int, bigint, text, text, boolean, text, text, bigint,
    bigint, bigint, text, text, timestamptz, timestamptz, boolean, text, text)"""

REDEEM = r"""
CREATE FUNCTION giftloop_redeem(
    p_card_id bigint, p_code_id bigint, p_lookup_hash text, p_amount bigint, p_currency text, p_exponent int,
    p_merchant_id bigint, p_merchant_currency text, p_memo_suffix text, p_allow_partial boolean, p_reference text,
    p_actor text, p_user_id bigint, p_token_id bigint, p_actor_merchant_id bigint, p_key text, p_request_hash text,
    p_now timestamptz, p_written_at timestamptz, p_receipt boolean, p_receipt_at text, p_receipt_merchant text,
    p_request_head text, p_request_tail text, p_record_scope text, p_record_key text, p_record_lock bigint,
    p_record_fingerprint text, p_record_expires_at timestamptz,
    OUT outcome text, OUT card_id bigint, OUT card_status text, OUT card_owner_id bigint,
    OUT card_expires_at timestamptz, OUT card_merchant_id bigint, OUT card_code_id bigint, OUT code_lookup_hash text,
    OUT new_transaction_id bigint, OUT memo_written text, OUT entry_ids bigint[], OUT applied bigint,
    OUT card_balance bigint, OUT payee_id bigint, OUT payee_balance bigint, OUT delivery_ids bigint[],
    OUT outbox_id bigint, OUT record_id bigint, OUT answer json
) LANGUAGE plpgsql AS $$
DECLARE
    v_card gift_cards%ROWTYPE;
    v_masked text;
    v_tx_merchant bigint := coalesce(p_merchant_id, p_actor_merchant_id);
    v_request_hash text := p_request_hash;
BEGIN
    -- The API request's key (portal.api.idempotency): its lock, then an answer kept under it. Every
    -- statement here takes a fresh snapshot (READ COMMITTED), so once the lock is held the look-up
    -- sees a same-key request that committed.
    IF p_record_scope IS NOT NULL THEN
        IF NOT pg_try_advisory_xact_lock(p_record_lock) THEN
            outcome := 'in_progress';
            RETURN;
        END IF;
        SELECT r.id INTO record_id FROM idempotency_records r
        WHERE r.scope = p_record_scope AND r.key = p_record_key AND r.expires_at > p_now;
        IF FOUND THEN
            outcome := 'stored';
            RETURN;
        END IF;
    END IF;

    -- The card, locked: by id (read before by the code p_code_id), or by its code's keyed hash, or
    -- by a QR token's code id. A lock that waited re-reads the join, so a card that got a new code
    -- meanwhile is no longer found by its old one.
    IF p_card_id IS NOT NULL THEN
        SELECT * INTO v_card FROM gift_cards WHERE id = p_card_id FOR UPDATE;
    ELSIF p_lookup_hash IS NOT NULL THEN
        SELECT gc.* INTO v_card FROM gift_cards gc JOIN codes c ON c.id = gc.code_id
        WHERE c.lookup_hash = p_lookup_hash FOR UPDATE OF gc;
    ELSE
        SELECT * INTO v_card FROM gift_cards WHERE code_id = p_code_id FOR UPDATE;
    END IF;
    IF NOT FOUND THEN
        outcome := 'no_card';
        RETURN;
    END IF;
    SELECT c.masked, c.lookup_hash INTO STRICT v_masked, code_lookup_hash FROM codes c WHERE c.id = v_card.code_id;
    card_id := v_card.id;
    card_status := v_card.status;
    card_owner_id := v_card.owner_id;
    card_expires_at := v_card.expires_at;
    card_merchant_id := v_card.merchant_id;
    card_code_id := v_card.code_id;
    IF v_request_hash IS NULL THEN  -- portal.ledger.fingerprint's text around the card's id
        v_request_hash := encode(sha256(convert_to(p_request_head || v_card.id || p_request_tail, 'UTF8')), 'hex');
    END IF;
    IF p_card_id IS NOT NULL AND v_card.code_id <> p_code_id THEN
        outcome := 'new_code';  -- it changed hands since it was looked up by its old code
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.actor = p_actor AND t.idempotency_key = p_key) THEN
        outcome := 'replay';  -- the caller tells a replay from a conflict by the request's hash
        RETURN;
    END IF;
    IF p_currency <> v_card.currency THEN
        outcome := 'currency';
        RETURN;
    END IF;
    IF NOT giftloop_card_usable(v_card, p_merchant_id, p_merchant_currency, p_now) THEN
        outcome := 'unusable';
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM transfers tr
               WHERE tr.card_id = v_card.id AND tr.status = 'pending' AND tr.expires_at > p_now) THEN
        outcome := 'held';
        RETURN;
    END IF;

    -- The payee: the merchant's settlement account, or the system's clearing account.
    IF p_merchant_id IS NOT NULL THEN
        payee_id := giftloop_account('settlement:' || p_merchant_id || ':' || v_card.currency, 'settlement',
                                     v_card.currency, NULL, p_merchant_id, p_written_at);
    ELSE
        payee_id := giftloop_account('system:settlement-clearing:' || v_card.currency, 'system',
                                     v_card.currency, NULL, NULL, p_written_at);
    END IF;
    applied := p_amount;
    IF p_allow_partial THEN
        SELECT a.balance INTO STRICT card_balance FROM accounts a WHERE a.id = v_card.account_id FOR UPDATE;
        applied := least(card_balance, p_amount);
        IF applied <= 0 THEN
            outcome := 'empty';
            RETURN;
        END IF;
    END IF;
    SELECT m.payer_balance, m.payee_balance INTO card_balance, payee_balance
    FROM giftloop_move(v_card.account_id, payee_id, applied, NULL) m;
    IF card_balance IS NULL THEN
        SELECT a.balance INTO card_balance FROM accounts a WHERE a.id = v_card.account_id;
        outcome := 'insufficient';
        RETURN;
    END IF;
    memo_written := 'Paid ' || giftloop_format_minor(applied, p_exponent, true) || ' ' || v_card.currency || p_memo_suffix;
    SELECT p.transaction_id, p.entry_ids INTO new_transaction_id, entry_ids
    FROM giftloop_post_payment('redeem', p_actor, p_key, v_request_hash, p_user_id, p_token_id, v_tx_merchant, v_card.id,
                               memo_written, p_reference, p_written_at, v_card.account_id, payee_id, applied,
                               v_card.currency) p;
    IF new_transaction_id IS NULL THEN
        outcome := 'replay';  -- a request under the same key (another card's) committed meanwhile
        RETURN;
    END IF;
    memo_written := left(memo_written, 500);

    -- The event (portal.events.record_transaction): what the payment did to the card.
    delivery_ids := giftloop_record_event(
        'card.redeemed', p_written_at, coalesce(v_tx_merchant, v_card.merchant_id), new_transaction_id,
        giftloop_card_movement(new_transaction_id, 'redeem', -applied, p_exponent, card_balance, v_card,
                               v_masked, v_tx_merchant, p_reference));
    IF p_receipt THEN  -- portal.notifications.messages.redemption_receipt
        outbox_id := giftloop_card_receipt('redemption_receipt', new_transaction_id, v_card, applied, card_balance,
                                           p_receipt_at, 'merchant_name', p_receipt_merchant, p_written_at);
    END IF;

    -- The answer's values, kept under the request's key: the API writes its answer from them.
    IF p_record_scope IS NOT NULL THEN
        answer := json_build_object(
            'transaction', json_build_object(
                'id', new_transaction_id, 'created_at', giftloop_utc_text(p_written_at), 'memo', memo_written,
                'reference', p_reference, 'merchant_id', v_tx_merchant, 'amount', -applied),
            'card', json_build_object(
                'id', v_card.id, 'code_masked', v_masked, 'balance', card_balance, 'currency', v_card.currency,
                'status', v_card.status, 'kind', v_card.kind, 'expires_at', giftloop_utc_text(v_card.expires_at),
                'merchant', (SELECT m.slug FROM merchants m WHERE m.id = v_card.merchant_id),
                'network', (SELECT n.name FROM networks n WHERE n.id = v_card.network_id),
                'held', COALESCE((SELECT a.balance FROM accounts a WHERE a.key = 'holds:' || v_card.id), 0)),
            'applied', applied, 'requested', p_amount);
        INSERT INTO idempotency_records (scope, key, fingerprint, response_status, answer, created_at, expires_at)
        VALUES (p_record_scope, p_record_key, p_record_fingerprint, 200, answer, p_written_at, p_record_expires_at)
        RETURNING id INTO record_id;
    END IF;
    outcome := 'paid';
END
$$
"""

# A moment as the API's answer values carry it: UTC, to the microsecond, no zone ("2026-12-07T20:05:00.000000").
UTC_TEXT = r"""
CREATE FUNCTION giftloop_utc_text(p_at timestamptz) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
$$
"""


def _previous():
    """Migration a8d4f2c6e913, whose giftloop_redeem a downgrade puts back."""
    path = Path(__file__).with_name("a8d4f2c6e913_payments_in_one_call.py")
    spec = importlib.util.spec_from_file_location("payments_in_one_call", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade():
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answer', sa.JSON(), nullable=True))
    if op.get_bind().dialect.name != 'postgresql':
        return  # SQLite pays through the Python path
    op.execute(f"DROP FUNCTION {OLD_SIGNATURE}")
    op.execute(UTC_TEXT)
    op.execute(REDEEM)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP FUNCTION giftloop_redeem")
        op.execute("DROP FUNCTION giftloop_utc_text")
        op.execute(_previous().REDEEM)
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.drop_column('answer')
