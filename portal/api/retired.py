"""Routes that took a code in their path, retired: 410 Gone with the route to use instead, never the code.

The code already sits in every log between the client and us, so the client must move; nothing is
looked up. These routes are left out of the OpenAPI document, whose description names them.
"""

from __future__ import annotations

from portal.api import bp
from portal.api.cards import TILL
from portal.web.guards import roles
from portal.web.problems import problem


def retire(rule: str, method: str, name: str, use: str, *who: str) -> None:
    """Answer ``method rule`` (whose ``<code>`` is a code) with 410 naming ``use``, for the roles ``who``."""

    def view(code: str):
        return problem("gone", f"Codes no longer travel in URLs, where logs keep them. Use {use}.", status=410, use=use)

    view.__name__ = name
    view.retired = True
    bp.add_url_rule(rule, view_func=roles(*who)(view), methods=[method])


retire("/cards/<code>", "GET", "card_code_in_path", 'POST /api/v1/cards/lookup with {"code": …}', *TILL)
retire("/cards/<code>/redeem", "POST", "card_code_in_path_redeem",
       'POST /api/v1/cards/redeem with {"code": …, "amount": …}, or POST /api/v1/cards/{id}/redeem', *TILL)
retire("/cards/<code>/load", "POST", "card_code_in_path_load",
       "POST /api/v1/cards/{id}/load, with the id from POST /api/v1/cards/lookup", *TILL)
retire("/cards/<code>/transactions", "GET", "card_code_in_path_transactions",
       "GET /api/v1/cards/{id}/transactions, with the id from POST /api/v1/cards/lookup", *TILL)
retire("/gifts/check/<path:code>", "GET", "gift_check_code_in_path", 'POST /api/v1/gifts/check with {"gift_code": …}',
       "customer")
