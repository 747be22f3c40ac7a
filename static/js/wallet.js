// The customer portal's htmx behaviour that attributes alone cannot give (no inline code: CSP).
"use strict";

document.addEventListener("htmx:beforeSwap", (event) => {
  const xhr = event.detail.xhr;
  const status = xhr.status;
  if (xhr.responseURL && new URL(xhr.responseURL).pathname === "/signin") {
    // The session ended while the page stayed open: go to sign-in rather than draw it inside a panel.
    event.detail.shouldSwap = false;
    window.location.assign(xhr.responseURL);
  } else if (status === 304) {
    // A polled fragment that has not changed: keep what is shown (htmx would swap in the empty body).
    event.detail.shouldSwap = false;
  } else if (status === 422 || status === 429) {
    // A refused form comes back with the reasons by its fields: show them.
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// The printable card's "Print" button.
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) window.print();
});
