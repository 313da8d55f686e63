/* A scan field that keeps the focus on a page that holds other things too (the lot page's bag
   labels, the patient page's assignment labels), for keyboard-wedge scanners: the page opens
   with the field focused without jumping to it, a scanner typing while no text box has the
   focus types into the field, Esc comes back to it, and the last scan's outcome is brought into
   view. Enter sends the form; the server decides, as on the packing screen. */
(function () {
  "use strict";

  var station = document.querySelector("[data-scan-station]");
  var input = station && station.querySelector("[data-scan-field]");
  if (!input) { return; }
  var state = station.querySelector("#scan-state");
  var result = station.querySelector(".scan-result");

  function focusField() {
    try { input.focus({ preventScroll: true }); } catch (e) { input.focus(); }
  }

  function listening(on) {
    station.classList.toggle("scanner-paused", !on);
    // The words come from the page, in the reader's language.
    if (state) {
      state.textContent = on ? (station.dataset.ready || "Ready to scan.")
                             : (station.dataset.paused || "Scanner paused: press Esc to scan again.");
    }
  }

  function isTextEntry(element) {
    if (!element) { return false; }
    if (element.tagName === "TEXTAREA" || element.tagName === "SELECT") { return true; }
    return element.tagName === "INPUT" && !/^(radio|checkbox|button|submit|hidden)$/.test(element.type);
  }

  input.addEventListener("focus", function () { listening(true); });
  input.addEventListener("blur", function () {
    // Clicking the page's background gives the focus back; another control keeps it.
    window.setTimeout(function () {
      var active = document.activeElement;
      if (!active || active === document.body) { focusField(); } else { listening(false); }
    }, 0);
  });

  // Esc anywhere, or a scanner typing while no text box has the focus (a button, a link, the
  // page), goes to the scan field, so that a scan never presses a button or follows a link.
  document.addEventListener("keydown", function (event) {
    var typed = event.key.length === 1 && event.key !== " " && !event.ctrlKey && !event.metaKey && !event.altKey;
    if (event.key === "Escape" || (typed && !isTextEntry(document.activeElement))) {
      if (document.activeElement !== input) { focusField(); }
    }
  });

  // A choice made on the way (the receiving nurse) hands the focus back to the scan field.
  station.querySelectorAll("[data-scan-return]").forEach(function (control) {
    control.addEventListener("change", focusField);
  });

  if (result) {
    station.scrollIntoView({ block: "center" });
  }
  focusField();
}());
