"""Redemption in one round trip on PostgreSQL: the function giftloop_redeem (issue 24)

The whole write set of a card payment in one call: the card's row lock, the replay look-up, the
rules (code, currency, status, expiry, scope, a friend's hold), the limit-checked balance updates
in account id order, the transaction and its two entries, the event with its webhook deliveries,
and the owner's receipt in the outbox. A refusal comes back as a stable outcome with nothing
written; ``portal.cards.redeem_in_database`` turns it into the same DomainError the Python path
raises (the rules' messages stay in Python, in one place). SQLite keeps the Python path.

Revision ID: a8d4f2c6e913
Revises: 7e2a9c4d1b36
Create Date: 2026-12-07 17:05:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a8d4f2c6e913'
down_revision = '7e2a9c4d1b36'
branch_labels = None
depends_on = None

# portal.money.format_minor: 1250 → '12.50', -1 → '-0.01', 1500 (exponent 0) → '1500'.
FORMAT_MINOR = r"""
CREATE FUNCTION giftloop_format_minor(minor bigint, exponent int, grouped boolean DEFAULT false)
RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN minor < 0 THEN '-' ELSE '' END
        || CASE WHEN grouped
                THEN regexp_replace((abs(minor) / (10::bigint ^ exponent)::bigint)::text, '(\d)(?=(\d{3})+$)', '\1,', 'g')
                ELSE (abs(minor) / (10::bigint ^ exponent)::bigint)::text END
        || CASE WHEN exponent > 0
                THEN '.' || lpad((abs(minor) % (10::bigint ^ exponent)::bigint)::text, exponent, '0')
                ELSE '' END
$$
"""

REDEEM = r"""
CREATE FUNCTION giftloop_redeem(
    p_card_id bigint, p_code_id bigint, p_code_masked text, p_amount bigint, p_currency text, p_exponent int,
    p_merchant_id bigint, p_merchant_currency text, p_memo_suffix text, p_allow_partial boolean, p_reference text,
    p_actor text, p_user_id bigint, p_token_id bigint, p_actor_merchant_id bigint, p_key text, p_request_hash text,
    p_now timestamptz, p_written_at timestamptz, p_receipt boolean, p_receipt_at text, p_receipt_merchant text,
    OUT outcome text, OUT card_status text, OUT card_owner_id bigint, OUT card_expires_at timestamptz,
    OUT card_merchant_id bigint, OUT card_code_id bigint, OUT new_transaction_id bigint, OUT memo_written text,
    OUT entry_ids bigint[], OUT applied bigint, OUT card_balance bigint, OUT payee_id bigint,
    OUT payee_balance bigint, OUT delivery_ids bigint[], OUT outbox_id bigint
) LANGUAGE plpgsql AS $$
DECLARE
    v_card gift_cards%ROWTYPE;
    v_payee_key text;
    v_payee_kind text;
    v_found_kind text;
    v_found_currency text;
    v_tx_merchant bigint := coalesce(p_merchant_id, p_actor_merchant_id);
    v_event_id bigint;
    v_email text;
    v_wants_receipts boolean;
BEGIN
    -- Every statement below sees what committed before it ran (READ COMMITTED, a fresh snapshot per
    -- statement), so once the card's lock is held the replay look-up sees any same-key request.
    SELECT * INTO STRICT v_card FROM gift_cards WHERE id = p_card_id FOR UPDATE;
    card_status := v_card.status;
    card_owner_id := v_card.owner_id;
    card_expires_at := v_card.expires_at;
    card_merchant_id := v_card.merchant_id;
    card_code_id := v_card.code_id;
    IF v_card.code_id <> p_code_id THEN
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
    IF v_card.status IN ('cancelled', 'frozen', 'expired') OR v_card.expires_at <= p_now
       OR (p_merchant_id IS NOT NULL
           AND ((v_card.merchant_id IS NOT NULL AND v_card.merchant_id <> p_merchant_id)
                OR p_merchant_currency <> v_card.currency)) THEN
        outcome := 'unusable';
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM transfers tr
               WHERE tr.card_id = v_card.id AND tr.status = 'pending' AND tr.expires_at > p_now) THEN
        outcome := 'held';
        RETURN;
    END IF;

    -- The payee: the merchant's settlement account, or the system's clearing account; made if missing.
    IF p_merchant_id IS NOT NULL THEN
        v_payee_key := 'settlement:' || p_merchant_id || ':' || v_card.currency;
        v_payee_kind := 'settlement';
    ELSE
        v_payee_key := 'system:settlement-clearing:' || v_card.currency;
        v_payee_kind := 'system';
    END IF;
    SELECT a.id, a.kind, a.currency INTO payee_id, v_found_kind, v_found_currency FROM accounts a WHERE a.key = v_payee_key;
    IF NOT FOUND THEN
        INSERT INTO accounts (key, kind, currency, balance, merchant_id, created_at)
        VALUES (v_payee_key, v_payee_kind, v_card.currency, 0,
                CASE WHEN v_payee_kind = 'settlement' THEN p_merchant_id END, p_written_at)
        ON CONFLICT (key) DO NOTHING;
        SELECT a.id, a.kind, a.currency INTO STRICT payee_id, v_found_kind, v_found_currency
        FROM accounts a WHERE a.key = v_payee_key;
    END IF;
    IF v_found_kind <> v_payee_kind OR v_found_currency <> v_card.currency THEN
        RAISE EXCEPTION 'account % is %/%, not %/%', v_payee_key, v_found_kind, v_found_currency, v_payee_kind, v_card.currency;
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
    IF applied <= 0 THEN
        RAISE EXCEPTION 'leg amounts are non-zero, not %', applied;
    END IF;

    -- Balances in account id order (no two payments wait on each other in a circle); the card's
    -- update refuses to go below zero, and a refusal takes back what was changed before it.
    IF payee_id < v_card.account_id THEN
        UPDATE accounts SET balance = balance + applied WHERE id = payee_id RETURNING balance INTO payee_balance;
    END IF;
    UPDATE accounts SET balance = balance - applied
    WHERE id = v_card.account_id AND (kind = 'system' OR balance - applied >= 0)
    RETURNING balance INTO card_balance;
    IF NOT FOUND THEN
        IF payee_balance IS NOT NULL THEN
            UPDATE accounts SET balance = balance - applied WHERE id = payee_id;
            payee_balance := NULL;
        END IF;
        SELECT a.balance INTO card_balance FROM accounts a WHERE a.id = v_card.account_id;
        outcome := 'insufficient';
        RETURN;
    END IF;
    IF payee_balance IS NULL THEN
        UPDATE accounts SET balance = balance + applied WHERE id = payee_id RETURNING balance INTO payee_balance;
    END IF;

    memo_written := left('Paid ' || giftloop_format_minor(applied, p_exponent, true) || ' ' || v_card.currency
                         || p_memo_suffix, 500);
    INSERT INTO ledger_transactions (kind, actor, idempotency_key, request_hash, user_id, token_id, merchant_id,
                                     card_id, memo, reference, created_at)
    VALUES ('redeem', p_actor, p_key, p_request_hash, p_user_id, p_token_id, v_tx_merchant,
            v_card.id, memo_written, p_reference, p_written_at)
    ON CONFLICT (actor, idempotency_key) DO NOTHING
    RETURNING id INTO new_transaction_id;
    IF new_transaction_id IS NULL THEN
        -- A request under the same key (another card's) committed meanwhile: its answer is ours.
        UPDATE accounts SET balance = balance + applied WHERE id = v_card.account_id;
        UPDATE accounts SET balance = balance - applied WHERE id = payee_id;
        outcome := 'replay';
        RETURN;
    END IF;
    WITH written AS (
        INSERT INTO ledger_entries (transaction_id, account_id, amount, currency)
        VALUES (new_transaction_id, v_card.account_id, -applied, v_card.currency),
               (new_transaction_id, payee_id, applied, v_card.currency)
        RETURNING id
    )
    SELECT array_agg(id ORDER BY id) INTO entry_ids FROM written;

    -- The event (portal.events.record_transaction) and a delivery for every endpoint that hears it.
    INSERT INTO events (type, occurred_at, merchant_id, transaction_id, payload)
    VALUES ('card.redeemed', p_written_at, coalesce(v_tx_merchant, v_card.merchant_id), new_transaction_id,
            json_build_object(
                'transaction_id', new_transaction_id, 'kind', 'redeem',
                'amount', giftloop_format_minor(-applied, p_exponent), 'currency', v_card.currency,
                'balance', giftloop_format_minor(card_balance, p_exponent), 'account', 'card',
                'card', json_build_object('id', v_card.id, 'code_masked', p_code_masked,
                                          'currency', v_card.currency, 'merchant_id', v_card.merchant_id),
                'customer_id', v_card.owner_id, 'merchant_id', v_tx_merchant, 'reference', p_reference,
                'reverses_id', NULL::bigint))
    RETURNING id INTO v_event_id;
    WITH queued AS (
        INSERT INTO webhook_deliveries (endpoint_id, event_id, status, attempts, created_at)
        SELECT e.id, v_event_id, 'pending', 0, p_written_at FROM webhook_endpoints e
        WHERE e.status = 'enabled'
          AND (e.merchant_id IS NULL OR e.merchant_id = coalesce(v_tx_merchant, v_card.merchant_id))
          AND e.event_types::text LIKE '%"card.redeemed"%'
        ORDER BY e.id
        RETURNING id
    )
    SELECT array_agg(id ORDER BY id) INTO delivery_ids FROM queued;

    -- The owner's receipt (portal.notifications.messages.redemption_receipt), unless turned off.
    IF p_receipt AND v_card.owner_id IS NOT NULL THEN
        SELECT u.email, u.receipts_by_email INTO STRICT v_email, v_wants_receipts FROM users u WHERE u.id = v_card.owner_id;
        IF v_wants_receipts THEN
            INSERT INTO outbox (key, kind, recipient, context, card_id, status, attempts, created_at)
            VALUES ('redemption_receipt:' || new_transaction_id, 'redemption_receipt', btrim(v_email),
                    json_build_object('transaction_id', new_transaction_id, 'amount', applied,
                                      'currency', v_card.currency, 'balance_after', card_balance,
                                      'at', p_receipt_at, 'merchant_name', p_receipt_merchant),
                    v_card.id, 'pending', 0, p_written_at)
            ON CONFLICT (key) DO NOTHING
            RETURNING id INTO outbox_id;
        END IF;
    END IF;
    outcome := 'paid';
END
$$
"""


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return  # SQLite redeems through the Python path
    op.execute(FORMAT_MINOR)
    op.execute(REDEEM)


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute("DROP FUNCTION giftloop_redeem")
    op.execute("DROP FUNCTION giftloop_format_minor")
