/* After a form comes back with errors: the error summary takes the focus (a screen reader reads
   it, a keyboard user starts from it), and each field it names is marked invalid and described
   by its message, for the forms whose markup does not say so itself. A scan field that holds
   the focus keeps it: the next scan must not land in the summary. */
(function () {
  "use strict";

  function markInvalid(field) {
    var id = field.id;
    var targets = /^(INPUT|SELECT|TEXTAREA)$/.test(field.tagName) ? [field] : field.querySelectorAll("input, select, textarea");
    var message = document.getElementById(id + "-error");
    Array.prototype.forEach.call(targets, function (control) {
      if (control.type === "hidden") { return; }
      control.setAttribute("aria-invalid", "true");
      if (!message) { return; }
      var described = (control.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
      if (described.indexOf(message.id) < 0) {
        described.push(message.id);
        control.setAttribute("aria-describedby", described.join(" "));
      }
    });
  }

  function init() {
    var summary = document.querySelector(".error-summary");
    if (!summary) { return; }
    summary.querySelectorAll('a[href^="#"]').forEach(function (link) {
      var field = document.getElementById(decodeURIComponent(link.getAttribute("href").slice(1)));
      if (field) { markInvalid(field); }
    });
    var active = document.activeElement;
    var scanning = active && active.matches && active.matches(".scan-input, [data-scan-field], #scan-input");
    if (!scanning && !summary.closest("[hidden]")) { summary.focus(); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
