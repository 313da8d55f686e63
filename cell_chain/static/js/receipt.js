/* The pharmacist's receipt screen, for keyboard-wedge scanners: the scan field keeps the focus,
   each Enter checks the scan against the doses expected in the box (their payloads are in the
   page's data attributes), marks it and plays ok or stop. The scans travel to the server in
   hidden inputs when the pharmacist signs; the server decides what was received. */
(function () {
  "use strict";

  var screen = document.getElementById("receipt-screen");
  if (!screen) { return; }
  // The screen's words in the reader's language, from the server's catalogue.
  var WORDS = JSON.parse(screen.dataset.words || "{}");
  function t(text, values) {
    var out = WORDS[text] || text;
    Object.keys(values || {}).forEach(function (key) { out = out.split("%(" + key + ")s").join(values[key]); });
    return out;
  }

  var scanForm = document.getElementById("scan-form");
  var scanInput = document.getElementById("scan-input");
  var scanState = document.getElementById("scan-state");
  var banner = document.getElementById("scan-banner");
  var bannerTitle = document.getElementById("banner-title");
  var bannerDetail = document.getElementById("banner-detail");
  var receiptForm = document.getElementById("receipt-form");
  var hiddenScans = document.getElementById("scan-inputs");
  var linesGroup = document.getElementById("scan-lines-group");
  var lines = document.getElementById("scan");
  var unexpectedList = document.getElementById("unexpected-list");
  var unexpectedEmpty = document.getElementById("unexpected-empty");
  var confirmPanel = document.getElementById("confirm-missing");
  var confirmText = document.getElementById("confirm-missing-text");
  var receiveButton = document.getElementById("receive-button");
  var password = document.getElementById("password");
  var counts = {
    expected: document.getElementById("count-expected"),
    scanned: document.getElementById("count-scanned"),
    missing: document.getElementById("count-missing"),
    unexpected: document.getElementById("count-unexpected")
  };
  var sounds = { ok: new Audio(screen.dataset.soundOk), stop: new Audio(screen.dataset.soundStop) };

  var doses = [];            // {code, subject, row, payload (the scan sent) or null}
  var byPayload = new Map(); // every accepted payload of every expected dose → its dose
  var unexpected = [];       // {payload, item}
  var confirmedMissing = -1; // the missing count the pharmacist confirmed, -1 when none
  var shownEntry = null;     // the unexpected scan the banner is about

  screen.querySelectorAll("tr[data-payloads]").forEach(function (row) {
    var dose = { code: row.dataset.dose, subject: row.dataset.subject, row: row, payload: null };
    JSON.parse(row.dataset.payloads).forEach(function (p) { byPayload.set(p, dose); });
    doses.push(dose);
  });

  function play(name) {
    var sound = sounds[name];
    try {
      sound.currentTime = 0;
      var playing = sound.play();
      if (playing && playing.catch) { playing.catch(function () {}); }
    } catch (e) { /* no audio device: the colour and words still say it */ }
  }

  function show(tone, title, detail) {
    shownEntry = null;
    banner.hidden = false;
    banner.className = "scan-banner " + tone;
    bannerTitle.textContent = title;
    bannerDetail.textContent = detail;
  }

  function addHidden(payload) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "scan";
    input.value = payload;
    hiddenScans.appendChild(input);
    return input;
  }

  // What a payload looks like, in words, before (or without) the server's answer: a raw
  // payload is never shown to the pharmacist.
  function shape(payload) {
    if (looksLikeDoseLabel(payload) || /^[=&]/.test(payload)) { return t("A dose label"); }
    if (/^[A-Z]{2,8}-[0-9]{4}$/.test(payload)) { return t("A wristband"); }
    if (/^SHP-/.test(payload)) { return t("A shipment label"); }
    return t("Not a label we print");
  }

  function missingDoses() {
    return doses.filter(function (d) { return d.payload === null; });
  }

  function refresh() {
    var scanned = doses.length - missingDoses().length;
    counts.scanned.textContent = String(scanned);
    counts.missing.textContent = String(doses.length - scanned);
    counts.unexpected.textContent = String(unexpected.length);
    Object.keys(counts).forEach(function (name) {
      counts[name].parentNode.classList.toggle("is-zero", counts[name].textContent === "0");
    });
    screen.classList.toggle("all-scanned", scanned === doses.length && doses.length > 0);
    unexpectedEmpty.hidden = unexpected.length > 0;
    if (confirmedMissing !== -1 && confirmedMissing !== doses.length - scanned) { resetConfirm(); }
  }

  function resetConfirm() {
    confirmedMissing = -1;
    confirmPanel.hidden = true;
    receiveButton.textContent = t("Receive shipment");
  }

  function markScanned(dose, payload) {
    dose.payload = payload;
    dose.input = addHidden(payload);
    dose.row.classList.add("scanned");
    var tag = document.createElement("strong");
    tag.className = "tag ok";
    tag.textContent = "✓ " + t("Scanned");
    dose.row.querySelector(".scan-state").replaceChildren(tag);
    dose.row.scrollIntoView({ block: "nearest" });
  }

  function removeUnexpected(entry) {
    unexpected.splice(unexpected.indexOf(entry), 1);
    entry.item.remove();
    entry.input.remove();
    refresh();
    show("idle", t("Removed: %(what)s", { what: entry.what }), t("It will not be recorded. Scan the next dose."));
    scanInput.focus();
  }

  function addUnexpected(payload, kind) {
    var item = document.createElement("li");
    var tag = document.createElement("strong");
    tag.className = "tag stop";
    tag.textContent = kind;
    var text = document.createElement("span");
    text.className = "scan-words";  // words, not a payload: no break inside a code
    text.textContent = shape(payload);
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "link-button";
    remove.textContent = t("Remove");
    var hidden = document.createElement("span");
    hidden.className = "visually-hidden";
    hidden.textContent = " " + t("scan: %(what)s", { what: shape(payload) });
    remove.appendChild(hidden);
    item.append(tag, text, remove);
    unexpectedList.appendChild(item);
    var entry = { payload: payload, item: item, input: addHidden(payload), text: text, hidden: hidden,
                  what: shape(payload), where: "" };
    remove.addEventListener("click", function () { removeUnexpected(entry); });
    unexpected.push(entry);
    describe(entry);
    return entry;
  }

  // Ask the server what the stray label is (a dose of another box, a wristband…), to name it
  // in words. The verdict on screen does not wait for this and does not depend on it.
  var WHAT = {
    dose: function (b) {
      var names = { code: b.dose_code, lot: b.lot_number, subject_id: b.subject_id };
      return b.subject_id ? t("Dose %(code)s of lot %(lot)s for %(subject_id)s", names)
                          : t("Dose %(code)s of lot %(lot)s", names);
    },
    patient: function (b) { return t("Wristband of patient %(subject_id)s", { subject_id: b.subject_id }); },
    shipment: function () { return t("A shipment label"); },
    lot: function () { return t("A lot's DIN label"); }
  };

  // Where a stray dose belongs: its shipment and whether this site has it.
  function whereabouts(b) {
    var parts = [b.shipment_code ? t("It belongs to shipment %(shipment)s.", { shipment: b.shipment_code })
                                 : t("It is in no shipment.")];
    if (b.at_this_site === true) { parts.push(t("It is already at this site.")); }
    if (b.at_this_site === false) { parts.push(t("It is not at this site.")); }
    return parts.join(" ");
  }

  function named(entry, what, where) {
    entry.what = what;
    entry.where = where;
    entry.text.textContent = what;
    entry.hidden.textContent = " " + t("scan: %(what)s", { what: what });
    if (shownEntry === entry) { showUnexpected(entry, false); }
  }

  function describe(entry) {
    if (!window.fetch || !screen.dataset.scanApi) { return; }
    fetch(screen.dataset.scanApi + "?payload=" + encodeURIComponent(entry.payload),
          { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 404 && /^[=&]/.test(entry.payload)) {
          named(entry, t("A dose label this pharmacy does not know"), "");
        }
        return response.ok ? response.json() : null;
      })
      .then(function (body) {
        if (!body || !WHAT[body.type]) { return; }
        named(entry, WHAT[body.type](body), body.type === "dose" ? whereabouts(body) : "");
      })
      .catch(function () { /* offline: the words for its shape stay on screen */ });
  }

  function showUnexpected(entry, known) {
    var dose = looksLikeDoseLabel(entry.payload);
    show("stop", "✗ " + (dose ? t("NOT IN THIS SHIPMENT") : t("NOT A DOSE LABEL")),
         entry.what + t(". ") + (entry.where ? entry.where + " " : "") +
         (known ? t("Already noted.") + " " : "") +
         (dose ? t("This bag is not expected in this box: put it aside. It is recorded as unexpected.")
               : t("Scan the Data Matrix on the bag label or the assignment label. Noted as unexpected: remove it below if it was a slip.")));
    shownEntry = entry;  // a description arriving later updates this banner
  }

  // A dose label is an ISBT 128 compound message ("=+…"); anything else is not one.
  function looksLikeDoseLabel(payload) { return payload.indexOf("=+") === 0; }

  function handle(raw, quiet) {
    var payload = raw.trim();
    if (!payload) { return; }
    var dose = byPayload.get(payload);
    if (dose) {
      if (dose.payload !== null) {
        if (!quiet) {
          show("warn", t("Already scanned: dose %(code)s", { code: dose.code }),
               (dose.subject ? t("For patient %(subject)s.", { subject: dose.subject }) + " " : "") +
               t("It is counted once. Scan the next dose."));
          play("ok");
        }
        return;
      }
      markScanned(dose, payload);
      refresh();
      if (!quiet) {
        show("ok", "✓ " + t("IN THIS SHIPMENT: dose %(code)s", { code: dose.code }),
             (dose.subject ? t("For patient %(subject)s.", { subject: dose.subject }) + " " : "") +
             (missingDoses().length ? t("%(count)s still to scan.", { count: missingDoses().length })
                                    : t("Every expected dose is scanned.")));
        play("ok");
      }
      return;
    }
    var entry = unexpected.filter(function (u) { return u.payload === payload; })[0];
    var known = !!entry;
    if (!known) {
      entry = addUnexpected(payload, looksLikeDoseLabel(payload) ? t("Not in this shipment") : t("Not a dose label"));
      refresh();
    }
    if (!quiet) {
      showUnexpected(entry, known);
      play("stop");
    }
  }

  function listening(on) {
    screen.classList.toggle("scanner-paused", !on);
    scanState.textContent = on ? t("Ready to scan.") : t("Scanner paused: press Esc or click here to scan again.");
  }

  function isControl(element) {
    return !!element && element !== document.body &&
      /^(INPUT|TEXTAREA|SELECT|BUTTON|A)$/.test(element.tagName);
  }

  // ---- switch the page from the no-script textarea to the live scan field ----
  var kept = lines.value.split(/\r?\n/);
  lines.value = "";
  lines.disabled = true;
  linesGroup.hidden = true;
  scanForm.hidden = false;
  banner.hidden = false;
  kept.forEach(function (line) { handle(line, true); });
  refresh();
  if (hiddenScans.children.length) {
    show("idle", t("Your %(count)s earlier scan(s) are kept", { count: hiddenScans.children.length }),
         t("Continue scanning, or sign below."));
  }

  scanForm.addEventListener("submit", function (event) {
    event.preventDefault();
    handle(scanInput.value, false);
    scanInput.value = "";
    scanInput.focus();
  });

  scanInput.addEventListener("focus", function () { listening(true); });
  scanInput.addEventListener("blur", function () {
    // Give focus back unless the pharmacist moved on to the seal, password or a button.
    window.setTimeout(function () {
      if (!isControl(document.activeElement)) { scanInput.focus(); } else { listening(false); }
    }, 0);
  });

  function isTextEntry(element) {
    if (!element) { return false; }
    if (element.tagName === "TEXTAREA" || element.tagName === "SELECT") { return true; }
    return element.tagName === "INPUT" && !/^(radio|checkbox|button|submit|hidden)$/.test(element.type);
  }

  // Esc anywhere, or a scanner typing while no text box has focus (a button, a radio, the page),
  // goes back to the scan field, so a scan never presses a button.
  document.addEventListener("keydown", function (event) {
    var typed = event.key.length === 1 && event.key !== " " && !event.ctrlKey && !event.metaKey && !event.altKey;
    if (event.key === "Escape" || (typed && !isTextEntry(document.activeElement))) {
      if (document.activeElement !== scanInput) { scanInput.focus(); }
    }
  });
  screen.addEventListener("click", function (event) {
    if (!isControl(event.target) && !event.target.closest("label, fieldset, .signature-box")) { scanInput.focus(); }
  });

  receiptForm.addEventListener("submit", function (event) {
    // A scan that landed in the password box is a scan, not a password.
    if (password && looksLikeDoseLabel(password.value.trim())) {
      event.preventDefault();
      handle(password.value, false);
      password.value = "";
      password.focus();
      return;
    }
    var missing = missingDoses();
    if (missing.length && confirmedMissing !== missing.length) {
      event.preventDefault();
      confirmedMissing = missing.length;
      var listed = missing.map(function (d) {
        return d.code + (d.subject ? " (" + d.subject + ")" : "");
      }).join(", ");
      confirmText.textContent = missing.length === 1
        ? t("1 dose has not been scanned: %(doses)s.", { doses: listed })
        : t("%(count)s doses have not been scanned: %(doses)s.", { count: missing.length, doses: listed });
      confirmPanel.hidden = false;
      receiveButton.textContent = t("Receive with %(count)s missing", { count: missing.length });
      receiveButton.focus();
      play("stop");
    }
  });

  scanInput.focus();
}());
