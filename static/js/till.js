// The till's script: camera scanning with jsQR, printing a sold card, and showing refusals.
// Everything works without it (typing or a USB scanner, the browser's own print).
"use strict";

(() => {
  const dialog = () => document.getElementById("scanner");
  let stream = null;
  let frame = 0;

  const hasCameraApi = () => !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);

  // Offer "Scan" only where a camera can be asked for, and "Print" only with script to print.
  async function reveal(root) {
    root.querySelectorAll("[data-print]").forEach((button) => { button.hidden = false; });
    const scans = root.querySelectorAll("[data-scan]");
    if (!scans.length || !hasCameraApi()) return;
    let cameras = true;
    try {
      const devices = await navigator.mediaDevices.enumerateDevices();
      cameras = devices.some((device) => device.kind === "videoinput");
    } catch (_) { /* unknown: let the person try */ }
    scans.forEach((button) => { button.hidden = !cameras; });
  }

  // jsQR is large, so it is fetched on the first scan only.
  function loadDecoder(src) {
    if (window.jsQR) return Promise.resolve(window.jsQR);
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.onload = () => resolve(window.jsQR);
      script.onerror = () => reject(new Error("The QR reader could not be loaded."));
      document.head.appendChild(script);
    });
  }

  function say(text) {
    const status = dialog().querySelector("[data-scanner-status]");
    if (status) status.textContent = text;
  }

  function stop() {
    cancelAnimationFrame(frame);
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    const box = dialog();
    if (box && box.open) box.close();
  }

  async function scan(button) {
    const input = document.getElementById(button.dataset.scan);
    const box = dialog();
    if (!input || !box) return;
    const video = box.querySelector("video");
    say("Hold the QR code in front of the camera.");
    box.showModal();
    try {
      const decode = await loadDecoder(button.dataset.scannerSrc);
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      video.srcObject = stream;
      await video.play();
      const canvas = document.createElement("canvas");
      const context = canvas.getContext("2d", { willReadFrequently: true });
      const tick = () => {
        if (!stream) return;
        if (video.readyState >= video.HAVE_ENOUGH_DATA) {
          canvas.width = video.videoWidth;
          canvas.height = video.videoHeight;
          context.drawImage(video, 0, 0, canvas.width, canvas.height);
          const image = context.getImageData(0, 0, canvas.width, canvas.height);
          const found = decode(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
          if (found && found.data) {
            stop();
            input.value = found.data.trim();
            input.focus();
            if (input.form) input.form.requestSubmit();
            return;
          }
        }
        frame = requestAnimationFrame(tick);
      };
      frame = requestAnimationFrame(tick);
    } catch (error) {
      if (stream) stream.getTracks().forEach((track) => track.stop());
      stream = null;
      say(`The camera could not start (${error.message || error.name}). Type the code or use the scanner instead.`);
    }
  }

  document.addEventListener("click", (event) => {
    const scanButton = event.target.closest("[data-scan]");
    if (scanButton) { scan(scanButton); return; }
    if (event.target.closest("[data-scanner-close]")) { stop(); return; }
    if (event.target.closest("[data-print]")) window.print();
  });

  // Escape closes the dialog; the camera must stop with it.
  document.addEventListener("close", (event) => { if (event.target.id === "scanner") stop(); }, true);

  document.addEventListener("htmx:load", (event) => reveal(event.detail.elt));
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => reveal(document));
  } else {
    reveal(document);
  }
})();
