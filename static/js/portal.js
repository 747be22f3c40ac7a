// Giftloop's own script: small, no inline code anywhere (the CSP forbids it).
"use strict";

// Every htmx request carries the CSRF token as a header (DESIGN §7).
document.addEventListener("htmx:configRequest", (event) => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) event.detail.headers["X-CSRFToken"] = meta.content;
});
