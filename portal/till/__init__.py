"""The till's rules, no HTTP here: a sale read back from the ledger, the customer at the counter,
the cards, coupons, wallet credit and Loops that pay it. The merchant pages and
``POST /api/v1/checkout`` both call these."""
