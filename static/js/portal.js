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

// A request that fails (refused, broken, or never sent) says so beside the form that sent it,
// instead of leaving the page as if nothing had happened. The server's own words come first.
const REQUEST_FAILED = {
  network: "Giftloop could not be reached. Check your connection and try again.",
  server: "Something went wrong on our side. Nothing was changed; please try again.",
  refused: "That did not go through. Reload the page and try again.",
};

function messageOf(xhr) {
  if (xhr.responseText) {
    const page = new DOMParser().parseFromString(xhr.responseText, "text/html");
    const own = page.querySelector("[data-request-error]");
    if (own && own.textContent.trim()) return own.textContent.trim();
  }
  return xhr.status >= 500 ? REQUEST_FAILED.server : REQUEST_FAILED.refused;
}

function requestErrorRegion(elt) {
  const anchor = elt.closest("form") || elt;
  let region = anchor.nextElementSibling;
  if (!region || !region.hasAttribute("data-request-error")) {
    region = document.createElement("p");
    region.className = "alert";
    region.setAttribute("role", "alert");
    region.setAttribute("data-request-error", "");
    anchor.after(region);
  }
  return region;
}

function showRequestError(event, message) {
  const elt = event.detail.elt;
  if (!elt || !elt.isConnected) return;
  requestErrorRegion(elt).textContent = message;
}

document.addEventListener("htmx:responseError", (event) => showRequestError(event, messageOf(event.detail.xhr)));
document.addEventListener("htmx:sendError", (event) => showRequestError(event, REQUEST_FAILED.network));
document.addEventListener("htmx:timeout", (event) => showRequestError(event, REQUEST_FAILED.network));
// A new try clears the last failure's message.
document.addEventListener("htmx:beforeRequest", (event) => {
  const anchor = event.detail.elt.closest("form") || event.detail.elt;
  const region = anchor.nextElementSibling;
  if (region && region.hasAttribute("data-request-error")) region.remove();
});
