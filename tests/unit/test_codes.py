"""Card codes, check characters, forgiving input, masking, keyed storage and QR tokens."""

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.cards import codes
from portal.cards.codes import (
    ALPHABET,
    CodeVault,
    QrTokens,
    canonical,
    generate_card_code,
    is_card_code,
    is_qr_token,
    mask,
    normalise,
)
from portal.errors import ValidationError

GRAMMAR = re.compile(r"GC-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]")
NOT_A_CODE = "That doesn't look like a gift card code"
TYPO = "That code has a typo: please check it and try again"


def symbols(code: str) -> str:
    return code[3:].replace("-", "")


def refusal(text: str) -> str:
    with pytest.raises(ValidationError) as info:
        normalise(text)
    assert info.value.field == "code"
    return info.value.message


# --- generation and the check character ---


def test_the_alphabet_is_crockford_base32():
    assert ALPHABET == "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    assert not set("ILOU") & set(ALPHABET)


def test_a_hundred_thousand_codes_are_unique_and_well_formed():
    generated = [generate_card_code() for _ in range(100_000)]
    assert len(set(generated)) == len(generated)
    assert all(GRAMMAR.fullmatch(code) for code in generated)
    assert all(codes.CARD_CODE_RE.fullmatch(code) for code in generated)


def test_generated_codes_use_every_symbol_in_every_position():
    generated = [symbols(generate_card_code()) for _ in range(3000)]
    for position in range(16):
        assert {code[position] for code in generated} == set(ALPHABET)


def test_every_generated_code_passes_its_own_check():
    for _ in range(1000):
        code = generate_card_code()
        assert normalise(code) == code
        assert is_card_code(code)


def test_alpha_is_primitive_so_all_seventeen_position_weights_differ():
    # The proof in codes.py rests on this: alpha = 2 has order 31 in GF(32) mod x^5 + x^2 + 1.
    powers, value = [], 1
    for _ in range(31):
        powers.append(value)
        value = codes._times_alpha(value)
    assert value == 1
    assert len(set(powers)) == 31 and 0 not in powers


def test_every_single_substitution_and_adjacent_swap_is_caught_as_a_typo():
    rng = random.Random(20240601)
    for _ in range(300):
        code = codes._display("".join(rng.choice(ALPHABET) for _ in range(16)) + "0")
        code = code[:-1] + codes.check_character(symbols(code)[:16])
        assert normalise(code) == code
        good = symbols(code)
        for position in range(17):  # the check character included
            for replacement in ALPHABET:
                if replacement != good[position]:
                    bad = good[:position] + replacement + good[position + 1 :]
                    assert refusal(bad) == TYPO
        for position in range(16):  # the last swap is data <-> check character
            a, b = good[position], good[position + 1]
            if a != b:
                bad = good[:position] + b + a + good[position + 2 :]
                assert refusal(bad) == TYPO


# --- forgiving input ---


def test_a_code_typed_sloppily_is_normalised_to_its_display_form():
    code = generate_card_code()
    assert normalise(code.lower()) == code
    assert normalise(" " + code.replace("-", " ") + " ") == code
    assert normalise(symbols(code)) == code
    assert normalise("gc" + symbols(code).lower()) == code
    assert normalise(code.replace("-", "_")) == code
    assert normalise(code.replace("-", "\u2013")) == code  # en dash from a mail client


def test_look_alike_letters_are_read_as_digits():
    code = codes._display("0110" * 4 + codes.check_character("0110" * 4))
    assert normalise(code.replace("0", "O").replace("1", "I", 3).replace("1", "l")) == code
    assert normalise(code.lower().replace("0", "o")) == code


def test_a_seventeen_symbol_code_starting_with_g_c_is_not_mistaken_for_a_prefix():
    data = "GC" + "12345678ABCDEF"
    code = codes._display(data + codes.check_character(data))
    assert code.startswith("GC-GC12-")
    assert normalise(symbols(code)) == code
    assert normalise("GC" + symbols(code)) == code


def test_wrong_lengths_and_letters_are_not_codes():
    code = generate_card_code()
    for text in ("", "GC-", "hello", symbols(code)[:-1], symbols(code) + "0", "XX" + symbols(code),
                 code.replace(code[4], "U"), code + "!", "GC-ßSSS-" + symbols(code)[6:], "x" * 10_000):
        assert refusal(text).startswith(NOT_A_CODE)
        assert not is_card_code(text)


def test_the_letter_u_is_never_a_symbol():
    code = generate_card_code()
    assert refusal(code[:-1] + "U").startswith(NOT_A_CODE)
    assert refusal("u" + code[4:]).startswith(NOT_A_CODE)


def test_a_wrong_check_character_is_reported_as_a_typo():
    code = generate_card_code()
    wrong = next(ch for ch in ALPHABET if ch != code[-1])
    assert refusal(code[:-1] + wrong) == TYPO
    assert not is_card_code(code[:-1] + wrong)


@st.composite
def sloppy_spellings(draw):
    data = draw(st.text(alphabet=ALPHABET, min_size=16, max_size=16))
    code = codes._display(data + codes.check_character(data))
    out = []
    if draw(st.booleans()):
        out.append(draw(st.sampled_from(["", " ", "  "])))
    for i, ch in enumerate(code):
        if ch == "-":
            out.append(draw(st.sampled_from(["", "-", " ", "_", " - ", "--"])))
            continue
        if i >= 3 and ch == "0" and draw(st.booleans()):
            ch = "O"
        elif i >= 3 and ch == "1":
            ch = draw(st.sampled_from(["1", "I", "L"]))
        out.append(ch.lower() if draw(st.booleans()) else ch)
    text = "".join(out)
    if draw(st.booleans()):
        # Drop the prefix itself, in whatever case it was typed (not a "GC" inside the data).
        text = re.sub(r"^(\s*)gc", r"\1", text, flags=re.IGNORECASE)
    return code, text + draw(st.sampled_from(["", " ", "\t"]))


@settings(max_examples=300)
@given(sloppy_spellings())
def test_every_forgiving_spelling_normalises_back_to_the_code(pair):
    code, text = pair
    assert normalise(text) == code
    assert canonical(text) == code


# --- masking ---


def test_a_card_code_is_masked_down_to_its_last_group_and_check_character():
    code = "GC-" + "-".join(["ABCD", "EFGH", "JKMN"]) + "-7F3K-"
    code += codes.check_character(symbols(code))
    assert mask(code) == f"GC-••••-••••-••••-7F3K-{code[-1]}"
    assert mask(code.lower().replace("-", " ")) == mask(code)


def test_a_campaign_code_shows_only_its_tail():
    assert mask("WELCOME2024") == "•••••••2024"
    assert mask("SPRING-SALE-XYZ1") == "••••••••••••XYZ1"
    assert mask("SAVE20") == "•••E20"  # short codes show at most half
    assert mask("AB") == "•B"


# --- storage ---


def test_lookup_hash_is_the_same_for_every_spelling_of_a_code():
    vault = CodeVault("test secret")
    code = generate_card_code()
    digest = vault.lookup_hash(code)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert vault.lookup_hash(code.lower()) == digest
    assert vault.lookup_hash(symbols(code)) == digest
    assert vault.lookup_hash(" " + code.replace("-", " ").replace("0", "o")) == digest
    assert vault.lookup_hash(generate_card_code()) != digest


def test_campaign_codes_hash_case_and_dash_insensitively():
    vault = CodeVault(b"test secret")
    assert canonical("save-20 ") == "SAVE20"
    assert vault.lookup_hash("save 20") == vault.lookup_hash("SAVE-20") == vault.lookup_hash("SAVE20")
    assert vault.lookup_hash("SAVE20") != vault.lookup_hash("SAVE21")


def test_the_hash_depends_on_the_key_and_is_not_a_plain_sha256():
    code = generate_card_code()
    assert CodeVault("one").lookup_hash(code) != CodeVault("two").lookup_hash(code)
    assert CodeVault("one").lookup_hash(code) == CodeVault(b"one").lookup_hash(code)


def test_a_code_encrypts_and_decrypts():
    vault = CodeVault("test secret")
    code = generate_card_code()
    blob = vault.encrypt(code)
    assert code.encode() not in blob
    assert vault.decrypt(blob) == code
    assert vault.encrypt(code) != blob  # fresh nonce each time
    assert CodeVault("test secret").decrypt(blob) == code


def test_codes_sealed_as_a_batch_each_get_their_own_nonce_hash_and_mask():
    vault = CodeVault("test secret")
    batch = [generate_card_code() for _ in range(500)] + ["SPRING-AB12-CD34-EF56"]
    sealed = list(vault.seal_many(batch))
    assert [vault.decrypt(blob) for _, blob, _ in sealed] == batch
    assert len({blob[:12] for _, blob, _ in sealed}) == len(batch)  # no nonce used twice
    assert sealed == [(vault.lookup_hash(c), blob, mask(c)) for c, (_, blob, _) in zip(batch, sealed)]


def test_a_tampered_or_foreign_ciphertext_is_refused():
    vault = CodeVault("test secret")
    blob = vault.encrypt("SAVE20")
    for i in (0, 11, 12, len(blob) - 1):
        tampered = bytearray(blob)
        tampered[i] ^= 1
        with pytest.raises(ValueError):
            vault.decrypt(bytes(tampered))
    with pytest.raises(ValueError):
        vault.decrypt(blob[:20])
    with pytest.raises(ValueError):
        CodeVault("other secret").decrypt(blob)


def test_a_vault_needs_a_key():
    with pytest.raises(ValueError):
        CodeVault("")


# --- QR tokens ---

T0 = 1_800_000_000.0  # a whole minute: 30,000,000 x 60


def test_a_qr_token_is_short_prefixed_and_names_the_card():
    qr = QrTokens("test secret")
    token = qr.issue(42, now=T0)
    assert token.startswith("QR1.")
    assert len(qr.issue(10**12, now=T0)) < 60
    assert re.fullmatch(r"[0-9A-Z.]+", token)  # fits QR alphanumeric mode
    assert is_qr_token(token)
    assert not is_qr_token(generate_card_code())
    assert not is_card_code(token)
    assert qr.resolve(token, now=T0) == 42


def test_a_qr_token_changes_every_minute():
    qr = QrTokens("test secret")
    assert qr.issue(42, now=T0) == qr.issue(42, now=T0 + 59)
    assert qr.issue(42, now=T0) != qr.issue(42, now=T0 + 60)
    assert qr.issue(42, now=T0) != qr.issue(43, now=T0)


def test_a_qr_token_works_for_two_minute_windows_and_then_stops():
    qr = QrTokens("test secret")
    token = qr.issue(42, now=T0)
    assert qr.resolve(token, now=T0) == 42
    assert qr.resolve(token, now=T0 + 60) == 42
    assert qr.resolve(token, now=T0 + 119) == 42
    assert qr.resolve(token, now=T0 + 120) is None
    assert qr.resolve(token, now=T0 + 3600) is None
    late = qr.issue(42, now=T0 + 59)  # issued at the end of its window: valid into the next one
    assert qr.resolve(late, now=T0 + 119.9) == 42
    assert qr.resolve(late, now=T0 + 120) is None


def test_a_qr_token_from_the_future_is_refused_beyond_small_clock_skew():
    qr = QrTokens("test secret")
    token = qr.issue(42, now=T0)
    assert qr.resolve(token, now=T0 - 2) == 42
    assert qr.resolve(token, now=T0 - 60) is None


def test_a_tampered_qr_token_resolves_to_nothing():
    qr = QrTokens("test secret")
    token = qr.issue(42, now=T0)
    prefix, card, window, mac = token.split(".")
    forged_card = f"{prefix}.{codes._b32(43)}.{window}.{mac}"
    forged_window = f"{prefix}.{card}.{codes._b32(codes._unb32(window) + 5)}.{mac}"
    flipped = token[:-1] + ("0" if token[-1] != "0" else "1")
    for bad in (forged_card, forged_window, flipped, f"{prefix}.0{card}.{window}.{mac}",
                token[:-1], token + "0", "QR1.", "", generate_card_code()):
        assert qr.resolve(bad, now=T0) is None
    assert QrTokens("other secret").resolve(token, now=T0) is None
    assert qr.resolve(None, now=T0) is None  # type: ignore[arg-type]


def test_a_qr_token_read_with_surrounding_whitespace_or_lower_case_still_works():
    qr = QrTokens("test secret")
    token = qr.issue(7, now=T0)
    assert qr.resolve(f" {token.lower()}\n", now=T0) == 7


def test_qr_tokens_and_code_keys_are_independent():
    # Same master key, different purposes: a QR MAC is not an HMAC of the code key, and vice versa.
    assert codes._derive("k", b"giftloop qr token") != codes._derive("k", b"giftloop code hmac")
    assert codes._derive("k", b"giftloop code hmac") != codes._derive("k", b"giftloop code encryption")


# --- Masking code-shaped text in request lines and log lines --------------------------------


def test_mask_codes_hides_every_code_in_a_line_in_any_spelling_and_leaves_other_text_alone():
    """A request line or an error with card, claim, gift codes and a QR token: is only a tail left of each?"""
    from portal.cards.codes import mask_codes

    card = generate_card_code()
    compact = card.replace("-", "")
    line = (
        f'"GET /api/v1/cards/{card}/transactions HTTP/1.1" 410 — retried as {compact.lower()} and {compact[2:]}; '
        "claim GL-7K2M-9QXD-4T1B, gift GIFT-ABCD-EFGH-JKMN-PQRS, scanned QR1.C.1KQZ5T.0123456789ABCDEF"
    )
    masked = mask_codes(line)
    for secret in (card, compact, compact.lower(), compact[2:], "7K2M-9QXD", "ABCD-EFGH-JKMN", "0123456789ABCDEF"):
        assert secret not in masked
    assert masked.count(mask(card)) == 3
    assert "GL-••••-4T1B" in masked and "GIFT-••••-PQRS" in masked and "QR1.C.1KQZ5T.••••" in masked
    assert masked.startswith('"GET /api/v1/cards/GC-••••') and masked.endswith("QR1.C.1KQZ5T.••••")
    plain = "POST /api/v1/cards/12/redeem 200 sha256=" + "ab" * 32 + " GLOBAL TRANSACTIONS"
    assert mask_codes(plain) == plain


def test_log_lines_of_the_app_and_of_gunicorns_access_log_are_masked(app, caplog):
    """Does a log record naming a code, with a traceback quoting it, come out masked on every logger we own?"""
    import logging

    card = generate_card_code()
    for name in ("portal", "gunicorn.access", "werkzeug"):
        try:
            raise RuntimeError(f"no card {card}")
        except RuntimeError:
            logging.getLogger(name).error("%s %s", "GET", f"/api/v1/cards/{card}", exc_info=True)
    assert caplog.text.count(mask(card)) == 6 and card not in caplog.text
