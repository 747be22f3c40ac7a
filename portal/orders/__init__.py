"""Orders: what a buyer asks for in the shop, its payment, and the cards it issues (issue 25).

``placing`` validates and stores a pending order; ``payment`` turns it paid on the provider's
verified webhook and issues its cards in that same transaction, exactly once; ``expiry`` ends
orders left unpaid. No Flask here.
"""
