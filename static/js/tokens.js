// Settings → API tokens: copy a new token with one press (it is never shown again).
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.querySelector(button.dataset.copy);
  const status = document.getElementById(button.getAttribute("aria-describedby"));
  field.select();
  try {
    await navigator.clipboard.writeText(field.value);
    status.textContent = "Copied. Keep it somewhere safe.";
  } catch {
    // No clipboard access (an insecure origin, a refusal): the token is selected for Ctrl+C.
    status.textContent = "Selected: press Ctrl+C (or ⌘C) to copy it.";
  }
});
