// Giftloop's own script: small, no inline code anywhere (the CSP forbids it).
"use strict";

// Every htmx request carries the CSRF token as a header (DESIGN §7).
document.addEventListener("htmx:configRequest", (event) => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) event.detail.headers["X-CSRFToken"] = meta.content;
});

// How every portal treats answers htmx would otherwise mishandle (no inline code: CSP).
document.addEventListener("htmx:beforeSwap", (event) => {
  const xhr = event.detail.xhr;
  if (xhr.responseURL && new URL(xhr.responseURL).pathname === "/signin") {
    // The session ended while the page stayed open (a poll, say): go to sign-in, not into a panel.
    event.detail.shouldSwap = false;
    window.location.assign(xhr.responseURL);
  } else if (xhr.status === 304) {
    // A polled fragment that has not changed: keep what is shown (htmx would swap in the empty body).
    event.detail.shouldSwap = false;
  } else if (xhr.status === 422 || xhr.status === 429) {
    // A refused form or a lock-out comes back with its reasons by the fields: show them.
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
