"""Card and wallet payments and cash top-ups in one round trip on PostgreSQL: giftloop_redeem, giftloop_pay_from_wallet, giftloop_load_cash (issue 24)

The whole write set of a card payment in one call: the card's row lock, the replay look-up, the
rules (code, currency, status, expiry, scope, a friend's hold), the limit-checked balance updates
in account id order, the transaction and its two entries, the event with its webhook deliveries,
and the owner's receipt in the outbox. A payment from wallet credit at a till and a top-up with
cash at a counter likewise. A refusal comes back as a stable outcome with nothing written; the
callers (``portal.cards.in_database``, ``portal.wallet``) turn it into the same DomainError the
Python path raises (the rules' messages stay in Python, in one place). SQLite keeps the Python
path (``portal.ledger.in_database``).

Revision ID: a8d4f2c6e913
Revises: 2e9a6d4c8b13
Create Date: 2026-12-07 17:05:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a8d4f2c6e913'
down_revision = '2e9a6d4c8b13'
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

# portal.ledger.account_for: the account with this key, made if missing.
ACCOUNT = r"""
CREATE FUNCTION giftloop_account(p_key text, p_kind text, p_currency text, p_owner_id bigint, p_merchant_id bigint,
                                 p_at timestamptz)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_kind text;
    v_currency text;
BEGIN
    SELECT a.id, a.kind, a.currency INTO v_id, v_kind, v_currency FROM accounts a WHERE a.key = p_key;
    IF NOT FOUND THEN
        INSERT INTO accounts (key, kind, currency, balance, owner_id, merchant_id, created_at)
        VALUES (p_key, p_kind, p_currency, 0, p_owner_id, p_merchant_id, p_at)
        ON CONFLICT (key) DO NOTHING;
        SELECT a.id, a.kind, a.currency INTO STRICT v_id, v_kind, v_currency FROM accounts a WHERE a.key = p_key;
    END IF;
    IF v_kind <> p_kind OR v_currency <> p_currency THEN
        RAISE EXCEPTION 'account % is %/%, not %/%', p_key, v_kind, v_currency, p_kind, p_currency;
    END IF;
    RETURN v_id;
END
$$
"""

# portal.ledger.posting._apply for a payment's two legs: the payer's balance may not go below zero
# (unless it is a system account), the payee's not above ``p_payee_cap`` (a card's programme
# maximum on a top-up; NULL: no cap); in account id order, so no two payments wait on each other
# in a circle. A refused leg takes back the other and leaves its own balance NULL (nothing changed).
MOVE = r"""
CREATE FUNCTION giftloop_move(p_payer bigint, p_payee bigint, p_amount bigint, p_payee_cap bigint,
                              OUT payer_balance bigint, OUT payee_balance bigint, OUT refused text)
LANGUAGE plpgsql AS $$
BEGIN
    IF p_amount <= 0 THEN
        RAISE EXCEPTION 'leg amounts are non-zero, not %', p_amount;
    END IF;
    IF p_payee < p_payer THEN
        UPDATE accounts SET balance = balance + p_amount
        WHERE id = p_payee AND (p_payee_cap IS NULL OR balance + p_amount <= p_payee_cap)
        RETURNING balance INTO payee_balance;
        IF NOT FOUND THEN
            refused := 'payee';
            RETURN;
        END IF;
    END IF;
    UPDATE accounts SET balance = balance - p_amount
    WHERE id = p_payer AND (kind = 'system' OR balance - p_amount >= 0)
    RETURNING balance INTO payer_balance;
    IF NOT FOUND THEN
        IF payee_balance IS NOT NULL THEN
            UPDATE accounts SET balance = balance - p_amount WHERE id = p_payee;
            payee_balance := NULL;
        END IF;
        refused := 'payer';
        RETURN;
    END IF;
    IF payee_balance IS NULL THEN
        UPDATE accounts SET balance = balance + p_amount
        WHERE id = p_payee AND (p_payee_cap IS NULL OR balance + p_amount <= p_payee_cap)
        RETURNING balance INTO payee_balance;
        IF NOT FOUND THEN
            UPDATE accounts SET balance = balance + p_amount WHERE id = p_payer;
            payer_balance := NULL;
            refused := 'payee';
        END IF;
    END IF;
END
$$
"""

# portal.ledger.posting._insert_transaction for two legs: the transaction unless the actor's key is
# taken (then its balance changes are taken back and NULL comes back), and its two entries.
POST = r"""
CREATE FUNCTION giftloop_post_payment(
    p_kind text, p_actor text, p_key text, p_request_hash text, p_user_id bigint, p_token_id bigint, p_merchant_id bigint,
    p_card_id bigint, p_memo text, p_reference text, p_at timestamptz,
    p_payer bigint, p_payee bigint, p_amount bigint, p_currency text,
    OUT transaction_id bigint, OUT entry_ids bigint[])
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_transactions (kind, actor, idempotency_key, request_hash, user_id, token_id, merchant_id,
                                     card_id, memo, reference, created_at)
    VALUES (p_kind, p_actor, p_key, p_request_hash, p_user_id, p_token_id, p_merchant_id,
            p_card_id, left(p_memo, 500), p_reference, p_at)
    ON CONFLICT (actor, idempotency_key) DO NOTHING
    RETURNING id INTO transaction_id;
    IF transaction_id IS NULL THEN
        UPDATE accounts SET balance = balance + p_amount WHERE id = p_payer;
        UPDATE accounts SET balance = balance - p_amount WHERE id = p_payee;
        RETURN;
    END IF;
    WITH written AS (
        INSERT INTO ledger_entries (transaction_id, account_id, amount, currency)
        VALUES (transaction_id, p_payer, -p_amount, p_currency), (transaction_id, p_payee, p_amount, p_currency)
        RETURNING id
    )
    SELECT array_agg(id ORDER BY id) INTO entry_ids FROM written;
END
$$
"""

# portal.events.record: the event and a delivery for every enabled endpoint that chose its type,
# the merchant's own and every admin's; returns the deliveries' ids.
RECORD_EVENT = r"""
CREATE FUNCTION giftloop_record_event(p_type text, p_at timestamptz, p_merchant_id bigint, p_transaction_id bigint,
                                      p_payload json)
RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
    v_event_id bigint;
    v_deliveries bigint[];
BEGIN
    INSERT INTO events (type, occurred_at, merchant_id, transaction_id, payload)
    VALUES (p_type, p_at, p_merchant_id, p_transaction_id, p_payload)
    RETURNING id INTO v_event_id;
    WITH queued AS (
        INSERT INTO webhook_deliveries (endpoint_id, event_id, status, attempts, created_at)
        SELECT e.id, v_event_id, 'pending', 0, p_at FROM webhook_endpoints e
        WHERE e.status = 'enabled' AND (e.merchant_id IS NULL OR e.merchant_id = p_merchant_id)
          AND position('"' || p_type || '"' IN e.event_types::text) > 0
        ORDER BY e.id
        RETURNING id
    )
    SELECT array_agg(id ORDER BY id) INTO v_deliveries FROM queued;
    RETURN v_deliveries;
END
$$
"""

# portal.cards.lookup.usable_at as a yes or no (its words stay in Python): the card's status and
# date allow use now, and at a merchant the card is the merchant's or network-wide, in its currency.
CARD_USABLE = r"""
CREATE FUNCTION giftloop_card_usable(p_card gift_cards, p_merchant_id bigint, p_merchant_currency text,
                                     p_now timestamptz)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT p_card.status NOT IN ('cancelled', 'frozen', 'expired') AND p_card.expires_at > p_now
       AND (p_merchant_id IS NULL
            OR ((p_card.merchant_id IS NULL OR p_card.merchant_id = p_merchant_id)
                AND p_merchant_currency = p_card.currency))
$$
"""

# portal.events.payloads.transaction_movement for a transaction about a card: its event's data.
CARD_MOVEMENT = r"""
CREATE FUNCTION giftloop_card_movement(p_transaction_id bigint, p_kind text, p_amount bigint, p_exponent int,
                                       p_balance bigint, p_card gift_cards, p_code_masked text,
                                       p_merchant_id bigint, p_reference text)
RETURNS json LANGUAGE sql IMMUTABLE AS $$
    SELECT json_build_object(
        'transaction_id', p_transaction_id, 'kind', p_kind,
        'amount', giftloop_format_minor(p_amount, p_exponent), 'currency', p_card.currency,
        'balance', giftloop_format_minor(p_balance, p_exponent), 'account', 'card',
        'card', json_build_object('id', p_card.id, 'code_masked', p_code_masked,
                                  'currency', p_card.currency, 'merchant_id', p_card.merchant_id),
        'customer_id', p_card.owner_id, 'merchant_id', p_merchant_id, 'reference', p_reference,
        'reverses_id', NULL::bigint)
$$
"""

# portal.notifications.messages._receipt: the card owner's receipt in the outbox, unless they have
# none or turned receipts off; its id (NULL if none).
CARD_RECEIPT = r"""
CREATE FUNCTION giftloop_card_receipt(p_kind text, p_transaction_id bigint, p_card gift_cards, p_amount bigint,
                                      p_balance bigint, p_at text, p_extra_name text, p_extra_value text,
                                      p_written_at timestamptz)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_email text;
    v_wants_receipts boolean;
    v_outbox_id bigint;
BEGIN
    IF p_card.owner_id IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT u.email, u.receipts_by_email INTO STRICT v_email, v_wants_receipts FROM users u WHERE u.id = p_card.owner_id;
    IF NOT v_wants_receipts THEN
        RETURN NULL;
    END IF;
    INSERT INTO outbox (key, kind, recipient, context, card_id, status, attempts, created_at)
    VALUES (p_kind || ':' || p_transaction_id, p_kind, btrim(v_email),
            json_build_object('transaction_id', p_transaction_id, 'amount', p_amount, 'currency', p_card.currency,
                              'balance_after', p_balance, 'at', p_at, p_extra_name, p_extra_value),
            p_card.id, 'pending', 0, p_written_at)
    ON CONFLICT (key) DO NOTHING
    RETURNING id INTO v_outbox_id;
    RETURN v_outbox_id;
END
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
    v_tx_merchant bigint := coalesce(p_merchant_id, p_actor_merchant_id);
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
    FROM giftloop_post_payment('redeem', p_actor, p_key, p_request_hash, p_user_id, p_token_id, v_tx_merchant, v_card.id,
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
                               p_code_masked, v_tx_merchant, p_reference));
    IF p_receipt THEN  -- portal.notifications.messages.redemption_receipt
        outbox_id := giftloop_card_receipt('redemption_receipt', new_transaction_id, v_card, applied, card_balance,
                                           p_receipt_at, 'merchant_name', p_receipt_merchant, p_written_at);
    END IF;
    outcome := 'paid';
END
$$
"""

# portal.wallet.pay_from_wallet after its checks of the request alone (currency, amount, role),
# which the caller makes first: replay look-up, the wallet and the merchant's settlement account,
# the limit-checked balance updates, the transaction and its entries, the event.
PAY_FROM_WALLET = r"""
CREATE FUNCTION giftloop_pay_from_wallet(
    p_user_id bigint, p_amount bigint, p_currency text, p_exponent int, p_merchant_id bigint, p_memo text,
    p_reference text, p_actor text, p_actor_user_id bigint, p_token_id bigint, p_key text, p_request_hash text,
    p_written_at timestamptz,
    OUT outcome text, OUT new_transaction_id bigint, OUT entry_ids bigint[], OUT wallet_id bigint,
    OUT wallet_balance bigint, OUT payee_id bigint, OUT payee_balance bigint, OUT delivery_ids bigint[]
) LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.actor = p_actor AND t.idempotency_key = p_key) THEN
        outcome := 'replay';
        RETURN;
    END IF;
    wallet_id := giftloop_account('wallet:' || p_user_id || ':' || p_currency, 'wallet', p_currency, p_user_id, NULL,
                                  p_written_at);
    payee_id := giftloop_account('settlement:' || p_merchant_id || ':' || p_currency, 'settlement', p_currency,
                                 NULL, p_merchant_id, p_written_at);
    SELECT m.payer_balance, m.payee_balance INTO wallet_balance, payee_balance
    FROM giftloop_move(wallet_id, payee_id, p_amount, NULL) m;
    IF wallet_balance IS NULL THEN
        SELECT a.balance INTO wallet_balance FROM accounts a WHERE a.id = wallet_id;
        outcome := 'insufficient';
        RETURN;
    END IF;
    SELECT p.transaction_id, p.entry_ids INTO new_transaction_id, entry_ids
    FROM giftloop_post_payment('redeem', p_actor, p_key, p_request_hash, p_actor_user_id, p_token_id, p_merchant_id, NULL,
                               p_memo, p_reference, p_written_at, wallet_id, payee_id, p_amount, p_currency) p;
    IF new_transaction_id IS NULL THEN
        outcome := 'replay';
        RETURN;
    END IF;
    delivery_ids := giftloop_record_event(
        'card.redeemed', p_written_at, p_merchant_id, new_transaction_id,
        json_build_object(
            'transaction_id', new_transaction_id, 'kind', 'redeem',
            'amount', giftloop_format_minor(-p_amount, p_exponent), 'currency', p_currency,
            'balance', giftloop_format_minor(wallet_balance, p_exponent), 'account', 'wallet', 'card', NULL::json,
            'customer_id', p_user_id, 'merchant_id', p_merchant_id, 'reference', p_reference,
            'reverses_id', NULL::bigint));
    outcome := 'paid';
END
$$
"""

# portal.cards.operations.load for cash at a counter, after its checks of the request alone (source,
# currency), which the caller makes first: the card's lock, the replay look-up, the card's rules,
# cash → card capped by the programme's maximum card balance, the transaction and its entries, a
# purchased card's expiry moved on, the event and the owner's receipt.
LOAD_CASH = r"""
CREATE FUNCTION giftloop_load_cash(
    p_card_id bigint, p_code_masked text, p_amount bigint, p_exponent int, p_merchant_id bigint,
    p_merchant_currency text, p_actor text, p_user_id bigint, p_token_id bigint, p_actor_merchant_id bigint,
    p_key text, p_request_hash text, p_now timestamptz, p_written_at timestamptz, p_extend_days int,
    p_receipt_at text,
    OUT outcome text, OUT card_status text, OUT card_owner_id bigint, OUT card_expires_at timestamptz,
    OUT card_merchant_id bigint, OUT card_code_id bigint, OUT new_transaction_id bigint, OUT entry_ids bigint[],
    OUT card_balance bigint, OUT cash_id bigint, OUT cash_balance bigint, OUT delivery_ids bigint[],
    OUT outbox_id bigint
) LANGUAGE plpgsql AS $$
DECLARE
    v_card gift_cards%ROWTYPE;
    v_tx_merchant bigint := coalesce(p_merchant_id, p_actor_merchant_id);
    v_refused text;
BEGIN
    SELECT * INTO STRICT v_card FROM gift_cards WHERE id = p_card_id FOR UPDATE;
    card_status := v_card.status;
    card_owner_id := v_card.owner_id;
    card_expires_at := v_card.expires_at;
    card_merchant_id := v_card.merchant_id;
    card_code_id := v_card.code_id;
    IF EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.actor = p_actor AND t.idempotency_key = p_key) THEN
        outcome := 'replay';
        RETURN;
    END IF;
    IF NOT giftloop_card_usable(v_card, p_merchant_id, p_merchant_currency, p_now) THEN
        outcome := 'unusable';
        RETURN;
    END IF;
    cash_id := giftloop_account('system:cash:' || v_card.currency, 'system', v_card.currency, NULL, NULL, p_written_at);
    SELECT m.payer_balance, m.payee_balance, m.refused INTO cash_balance, card_balance, v_refused
    FROM giftloop_move(cash_id, v_card.account_id, p_amount,
                       (SELECT l.max_card_balance FROM programme_limits l WHERE l.currency = v_card.currency)) m;
    IF v_refused IS NOT NULL THEN
        outcome := 'over_maximum';
        RETURN;
    END IF;
    SELECT p.transaction_id, p.entry_ids INTO new_transaction_id, entry_ids
    FROM giftloop_post_payment('load', p_actor, p_key, p_request_hash, p_user_id, p_token_id, v_tx_merchant, v_card.id,
                               'Top-up from cash', NULL, p_written_at, cash_id, v_card.account_id, p_amount,
                               v_card.currency) p;
    IF new_transaction_id IS NULL THEN
        outcome := 'replay';
        RETURN;
    END IF;
    IF p_extend_days IS NOT NULL AND v_card.kind = 'purchased' THEN
        UPDATE gift_cards SET expires_at = greatest(expires_at, p_now + make_interval(days => p_extend_days))
        WHERE id = v_card.id
        RETURNING expires_at INTO card_expires_at;
    END IF;
    delivery_ids := giftloop_record_event(
        'card.loaded', p_written_at, coalesce(v_tx_merchant, v_card.merchant_id), new_transaction_id,
        giftloop_card_movement(new_transaction_id, 'load', p_amount, p_exponent, card_balance, v_card,
                               p_code_masked, v_tx_merchant, NULL));
    outbox_id := giftloop_card_receipt('topup_receipt', new_transaction_id, v_card, p_amount, card_balance,
                                       p_receipt_at, 'source', 'cash', p_written_at);
    outcome := 'loaded';
END
$$
"""

FUNCTIONS = (
    ("giftloop_format_minor", FORMAT_MINOR), ("giftloop_account", ACCOUNT), ("giftloop_move", MOVE),
    ("giftloop_post_payment", POST), ("giftloop_record_event", RECORD_EVENT), ("giftloop_card_usable", CARD_USABLE),
    ("giftloop_card_movement", CARD_MOVEMENT), ("giftloop_card_receipt", CARD_RECEIPT), ("giftloop_redeem", REDEEM),
    ("giftloop_pay_from_wallet", PAY_FROM_WALLET), ("giftloop_load_cash", LOAD_CASH),
)


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return  # SQLite pays through the Python path
    for _, sql in FUNCTIONS:
        op.execute(sql)


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for name, _ in reversed(FUNCTIONS):
        op.execute(f"DROP FUNCTION {name}")
