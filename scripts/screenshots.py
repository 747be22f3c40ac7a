"""Screenshots of the main pages at a phone's and a counter PC's width, for the README (`make screenshots`).

The portal runs on a throw-away SQLite file with the demo data and a few sales at the Corner Café
till, served on a free port; Playwright drives the system Chromium (CHROMIUM, default
/usr/bin/chromium) and writes docs/screenshots/<page>-<width>.png.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
import uuid
from pathlib import Path

import sqlalchemy as sa
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from portal import create_app
from portal.cards.operations import redeem
from portal.demo import DEMO_PASSWORD, load_demo
from portal.extensions import db
from portal.ledger import Actor
from portal.models import GiftCard, Merchant, User
from portal.money import Money
from portal.services import services

OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
WIDTHS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
# (file name, who signs in (None: nobody), path)
PAGES = [
    ("home", None, "/"),
    ("balance", None, "/balance"),
    ("wallet", "alice@giftloop.test", "/wallet/"),
    ("card", "alice@giftloop.test", "/wallet/cards/{card_id}"),
    ("history", "alice@giftloop.test", "/wallet/history"),
    ("gifts", "bob@giftloop.test", "/wallet/gifts"),
    ("till", "staff@corner-cafe.test", "/till/"),
    ("till-activity", "staff@corner-cafe.test", "/till/activity"),
    ("admin-overview", "admin@giftloop.test", "/admin/"),
    ("admin-cards", "admin@giftloop.test", "/admin/cards"),
]


def demo_app(folder: str):
    """The app on a new SQLite file, with the demo and three sales at the Corner Café till."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/portal.db", "OUTBOX_DIR": f"{folder}/outbox",
                      "REDIS_URL": None})
    with app.app_context():
        db.create_all()
        list(load_demo(db.session, services().vault))
        cafe = db.session.scalar(sa.select(Merchant).where(Merchant.slug == "corner-cafe"))
        alice = db.session.scalar(sa.select(User).where(User.email == "alice@giftloop.test"))
        card = db.session.scalar(sa.select(GiftCard).where(GiftCard.owner_id == alice.id).order_by(GiftCard.id))
        for amount in ("4.50", "12.00", "2.75"):
            redeem(db.session, card, Money.parse(amount, "USD"), actor=Actor(merchant_id=cafe.id),
                   idempotency_key=f"screenshots:{uuid.uuid4()}", merchant=cafe)
        db.session.commit()
        app.config["SCREENSHOT_CARD_ID"] = card.id
    return app


def shoot(base_url: str, card_id: int) -> list[Path]:
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                                             headless=True, args=["--no-sandbox", "--disable-gpu"])
        for width_name, viewport in WIDTHS.items():
            signed_in_as = {}
            for name, email, path in PAGES:
                if email not in signed_in_as:
                    context = browser.new_context(base_url=base_url, viewport=viewport,
                                                  is_mobile=width_name == "phone")
                    page = context.new_page()
                    if email:
                        page.goto("/signin")
                        page.get_by_label("E-mail address").fill(email)
                        page.get_by_label("Password").fill(DEMO_PASSWORD)
                        page.get_by_role("button", name="Sign in").click()
                        page.get_by_role("button", name="Sign out").wait_for()
                    signed_in_as[email] = page
                page = signed_in_as[email]
                page.goto(path.format(card_id=card_id))
                page.wait_for_load_state("networkidle")
                target = OUT / f"{name}-{viewport['width']}.png"
                page.screenshot(path=str(target))
                written.append(target)
        browser.close()
    return written


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    with tempfile.TemporaryDirectory() as folder:
        app = demo_app(folder)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            for path in shoot(f"http://127.0.0.1:{server.server_port}", app.config["SCREENSHOT_CARD_ID"]):
                print(path.relative_to(OUT.parents[1]))
        finally:
            server.shutdown()
            with app.app_context():
                db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
