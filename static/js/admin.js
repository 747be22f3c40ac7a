// The admin console's htmx behaviour beyond portal.js (no inline code: CSP).
"use strict";

document.addEventListener("htmx:beforeSwap", (event) => {
  if (event.detail.xhr.status === 404) {
    // A search that found nothing comes back with its message: show it.
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
