// The customer portal's own behaviour (shared htmx handling lives in portal.js).
"use strict";

// The printable card's "Print" button.
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) window.print();
});
