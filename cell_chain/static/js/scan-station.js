/* A scan field that keeps the focus on a page that holds other things too (the lot page's bag
   labels, the patient page's assignment labels, packing, the pharmacy), for keyboard-wedge
   scanners: the page opens with the field focused without jumping to it, a scanner typing
   while no text box has the focus types into the field, Esc comes back to it, and the last
   scan's outcome is brought into view. Enter sends the scan; the server decides.
   Where the form names a JSON endpoint (data-scan-api) the page scans in place: each Enter
   takes the field's text at once (the field is empty again for the next label, however fast
   it comes), the scans go to the server one after the other in the order they were made, and
   each answer is shown here, with the page's counts and rows brought up to date, without a
   reload. Without JavaScript the form posts and the page comes back, as before. */
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

  if (result && !result.hidden) {
    station.scrollIntoView({ block: "center" });
  }
  var form = input.form;
  if (form && form.dataset.scanApi && window.fetch) {
    scanInPlace(station, form, input, result, listening);
  }
  focusField();

  // ---- scanning in place ------------------------------------------------------------------

  function scanInPlace(station, form, input, panel, listening) {
    var queue = [];   // payloads scanned and not yet answered, oldest first
    var busy = false;
    var words = JSON.parse(station.dataset.words || "{}");
    var csrf = form.querySelector("input[name=csrf_token]");
    var sounds = { ok: form.dataset.soundOk, stop: form.dataset.soundStop };

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var payload = input.value;
      input.value = "";  // the next scan types into an empty field, even while this one travels
      if (!payload.trim()) { return; }
      queue.push(payload);
      pump();
    });

    function pump() {
      if (busy || !queue.length) { return; }
      busy = true;
      if (state) { state.textContent = station.dataset.sending || "Checking the scan…"; }
      var payload = queue.shift();
      fetch(form.dataset.scanApi, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json",
                   "Accept-Language": document.documentElement.lang || "en",
                   "X-CSRFToken": csrf ? csrf.value : "" },
        body: JSON.stringify({ scan: payload })
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (response.ok) { return body; }
          // Refused before judging the scan (signed out, no right, bad input): say so in words.
          return { tone: "stop", title: body.title || station.dataset.offline, detail: body.detail || "", code: body.code || null };
        });
      }).catch(function () {
        return { tone: "stop", title: station.dataset.offline || "The scan could not reach the server: scan it again.", detail: "", code: null };
      }).then(function (answer) {
        show(answer);
        (UPDATES[station.dataset.scanKind] || function () {})(answer);
        busy = false;
        if (!queue.length) { listening(document.activeElement === input); }
        pump();
      });
    }

    // The outcome panel as the server draws it, made here for a page's first answer.
    function ensurePanel() {
      if (panel) { return panel; }
      panel = document.createElement("div");
      panel.id = "scan-result";
      ["scan-result-title", "scan-result-detail", "scan-result-code"].forEach(function (name) {
        var line = document.createElement("p");
        line.className = name;
        panel.appendChild(line);
      });
      var code = document.createElement("code");
      code.className = "refusal-code";
      panel.lastChild.append((station.dataset.codeWord || "Code") + " ", code);
      form.parentNode.insertBefore(panel, form);
      return panel;
    }

    function show(answer) {
      ensurePanel();
      var tone = answer.tone || "stop";
      panel.className = "scan-result " + tone;
      panel.setAttribute("role", tone === "stop" ? "alert" : "status");
      panel.querySelector(".scan-result-title").textContent = (tone === "stop" ? "✗ " : tone === "ok" ? "✓ " : "! ") + answer.title;
      panel.querySelector(".scan-result-detail").textContent = answer.detail || "";
      var code = panel.querySelector(".scan-result-code");
      if (!code && answer.code) {
        code = document.createElement("p");
        code.className = "scan-result-code";
        code.append((station.dataset.codeWord || "Code") + " ", document.createElement("code"));
        code.lastChild.className = "refusal-code";
        panel.appendChild(code);
      }
      if (code) {
        code.hidden = !answer.code;
        var value = code.querySelector("code");
        if (value) { value.textContent = answer.code || ""; } else { code.textContent = answer.code || ""; }
      }
      panel.hidden = false;
      panel.scrollIntoView({ block: "nearest" });
      play(tone === "stop" ? sounds.stop : sounds.ok);
    }

    function play(src) {
      if (!src) { return; }
      try {
        var playing = new Audio(src).play();
        if (playing && playing.catch) { playing.catch(function () {}); }
      } catch (e) { /* no audio: the words and colour say it */ }
    }

    function tag(text, tone) {
      var strong = document.createElement("strong");
      strong.className = "tag" + (tone ? " " + tone : "");
      strong.textContent = text;
      return strong;
    }

    function setCount(id, value) {
      var element = document.getElementById(id);
      if (!element) { return; }
      element.textContent = String(value);
      element.parentNode.classList.toggle("is-zero", value === 0);
    }

    // The reader's clock, as the page prints times ("2026-12-03 14:05").
    function localTime(iso) {
      try {
        var parts = {};
        new Intl.DateTimeFormat("en-CA", { timeZone: station.dataset.zone || "UTC", year: "numeric", month: "2-digit",
          day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
          .formatToParts(new Date(iso)).forEach(function (part) { parts[part.type] = part.value; });
        return parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" + parts.minute;
      } catch (e) { return iso; }
    }

    var UPDATES = {
      // The lot page: the label counts, and the dose's row (bag label verified, status).
      labels: function (answer) {
        // Labels printed in another tab since the page opened: its print form is now a reprint,
        // which asks for a reason (the answer brings the words).
        var button = document.getElementById("print-labels-button");
        if (answer.reprint && button && button.hasAttribute("data-first-print")) {
          var group = document.createElement("div");
          group.className = "form-group";
          var label = document.createElement("label");
          label.htmlFor = "label-reason";
          label.textContent = answer.reprint.label;
          var hint = document.createElement("p");
          hint.className = "hint";
          hint.id = "label-reason-hint";
          hint.textContent = answer.reprint.hint;
          var reason = document.createElement("input");
          reason.type = "text";
          reason.id = "label-reason";
          reason.name = "reason";
          reason.setAttribute("aria-describedby", "label-reason-hint");
          group.append(label, hint, reason);
          button.parentNode.insertBefore(group, button);
          button.textContent = answer.reprint.button;
          button.removeAttribute("data-first-print");
        }
        if (answer.counts) {
          setCount("count-verified", answer.counts.verified);
          setCount("count-to-verify", answer.counts.waiting.length);
          var text = document.getElementById("label-counts-text");
          if (text) {
            text.replaceChildren(document.createTextNode(answer.counts.text + (answer.counts.waiting.length ? " " : "")));
            answer.counts.waiting.forEach(function (code, index) {
              var span = document.createElement("span");
              span.className = "dose-code";
              span.textContent = code;
              text.append(span, index < answer.counts.waiting.length - 1 ? ", " : "");
            });
            text.append(".");
          }
        }
        var dose = answer.dose;
        var row = dose && document.getElementById("dose-" + dose.code);
        if (!row) { return; }
        var status = row.querySelector(".dose-status");
        if (status) { status.replaceChildren(tag(dose.status_words, dose.status_tone)); }
        var label = row.querySelector(".bag-label-state");
        if (label && dose.label_verified) { label.replaceChildren(tag(words.verified || "Verified", "ok")); }
      },
      // Packing: the packed dose's row in the box's table, the box's counts and status.
      pack: function (answer) {
        document.querySelectorAll(".box-count").forEach(function (count) { count.textContent = String(answer.doses_in_box); });
        var heading = document.querySelector("h1 .tag");
        if (heading && answer.shipment_status_words) {
          heading.className = "tag" + (answer.shipment_status_tone ? " " + answer.shipment_status_tone : "");
          heading.textContent = answer.shipment_status_words;
        }
        var dispatch = document.getElementById("dispatch");
        if (dispatch && answer.doses_in_box > 0) { dispatch.hidden = false; }
        var dose = answer.dose;
        var body = document.getElementById("box-doses");
        if (!dose || !body || document.getElementById("dose-" + dose.code)) { return; }
        var row = document.createElement("tr");
        row.id = "dose-" + dose.code;
        var code = document.createElement("th");
        code.scope = "row";
        code.className = "dose-code";
        code.textContent = dose.code;
        function cell() { var td = document.createElement("td"); row.appendChild(td); return td; }
        row.appendChild(code);
        cell().textContent = dose.subject_id || "—";
        cell().appendChild(tag(dose.status_words, dose.status_tone));
        var expires = cell();
        var when = document.createElement("span");
        when.className = "nowrap";
        when.textContent = localTime(dose.expires_at);
        expires.appendChild(when);
        if (dose.expired) { expires.append(" ", tag(words.expired || "Expired", "stop")); }
        var receipt = document.createElement("span");
        receipt.className = "caption";
        receipt.textContent = words.not_received || "not received yet";
        cell().appendChild(receipt);
        cell().appendChild(dose.chain_unbroken === false ? tag(words.broken || "Broken", "stop") : tag(words.unbroken || "Unbroken", "ok"));
        body.appendChild(row);
        body.closest(".table-scroll").hidden = false;
        var empty = document.getElementById("box-empty");
        if (empty) { empty.remove(); }
      }
    };
  }
}());
