// The admin console's htmx behaviour that attributes alone cannot give (no inline code: CSP).
"use strict";

document.addEventListener("htmx:beforeSwap", (event) => {
  const xhr = event.detail.xhr;
  if (xhr.responseURL && new URL(xhr.responseURL).pathname === "/signin") {
    // The admin session ended while the page stayed open (a progress bar polling, say): go to sign-in.
    event.detail.shouldSwap = false;
    window.location.assign(xhr.responseURL);
  } else if (xhr.status === 422 || xhr.status === 404) {
    // A refused form or a search that found nothing comes back with its message: show it.
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
