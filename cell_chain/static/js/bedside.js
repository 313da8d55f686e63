/* The nurse's bedside screen. The scan field keeps the focus; each Enter (a handheld scanner
   types the code and Enter) or each camera read is one scan, wristband and dose bag in either
   order. After both, the server decides (POST /api/infusions/verify): a full-screen green
   MATCHED or red STOP with its sound. Then the infusion form with its running timer. The
   server rechecks everything when the infusion is recorded; this page never decides. */
(function () {
  "use strict";

  var root = document.getElementById("bedside");
  if (!root) { return; }
  var data = root.dataset;
  var clockOffset = (Date.parse(data.serverNow) || Date.now()) - Date.now();
  var fullVolume = parseFloat(data.fullVolume) || 40;
  // The page's words in the reader's language, from the server's catalogue.
  var WORDS = JSON.parse(data.words || "{}");
  function t(text, values) {
    var out = WORDS[text] || text;
    Object.keys(values || {}).forEach(function (key) { out = out.split("%(" + key + ")s").join(values[key]); });
    return out;
  }

  function byId(id) { return document.getElementById(id); }
  function serverNow() { return new Date(Date.now() + clockOffset); }
  function slots(name) { return root.querySelectorAll('[data-slot="' + name + '"]'); }
  function fill(name, text) { slots(name).forEach(function (el) { el.textContent = text; }); }
  function reveal(name, shown) { slots(name).forEach(function (el) { el.hidden = !shown; }); }
  function initials(text) { return (text || "").split("").map(function (c) { return c + "."; }).join(""); }
  // Times on the reader's clock (their site's zone), the zone named as the server names it.
  var zone = data.timeZone || "UTC";
  var zoneLabels = JSON.parse(data.zoneLabels || "{}");
  var wall = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  function parts(date) {
    var p = {};
    wall.formatToParts(date).forEach(function (part) { p[part.type] = part.value; });
    var day = p.year + "-" + p.month + "-" + p.day;
    var offset = Math.round((Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - Math.floor(date.getTime() / 1000) * 1000) / 60000);
    var sign = offset < 0 ? "-" : "+", abs = Math.abs(offset);
    var label = zoneLabels[String(offset)] || ("UTC" + sign + pad(Math.floor(abs / 60)) + ":" + pad(abs % 60));
    return { day: day, y: +p.year, mo: +p.month, d: +p.day, offset: offset,
             hm: p.hour + ":" + p.minute, hms: p.hour + ":" + p.minute + ":" + p.second, label: label };
  }
  function hhmm(date) { var p = parts(date); return p.hm + " " + p.label; }
  // The clock alone today (the reader's day); with the date on any other day.
  function when(date) {
    var p = parts(date);
    return p.day === parts(serverNow()).day ? p.hm + " " + p.label : p.day + " " + p.hm + " " + p.label;
  }
  function hhmmss(date) { var p = parts(date); return p.hms + " " + p.label; }
  // Today's `hours:minutes` on the reader's clock, as a moment.
  function todayAt(hours, minutes) {
    var p = parts(serverNow());
    return new Date(Date.UTC(p.y, p.mo - 1, p.d, hours, minutes) - p.offset * 60000);
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function clock(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return (h ? h + ":" + pad(m) : pad(m)) + ":" + pad(s % 60);
  }
  function spoken(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    // the units in the reader's language (小时 分 秒 on a Chinese page)
    var words = [];
    if (h) { words.push(t("%(hours)s h", { hours: h })); }
    if (h || m) { words.push(t("%(minutes)s min", { minutes: m })); }
    words.push(t("%(seconds)s s", { seconds: s % 60 }));
    return words.join(" ");
  }

  // ---- sounds: the colour and the words say the same ------------------------------------------
  var sounds = { ok: new Audio(data.soundOk), stop: new Audio(data.soundStop) };
  function play(name) {
    try {
      var sound = sounds[name];
      sound.currentTime = 0;
      var playing = sound.play();
      if (playing && playing.catch) { playing.catch(function () {}); }
    } catch (e) { /* no audio device */ }
  }

  // ---- screens: one decision at a time ------------------------------------------------------
  var SCREENS = ["scan-step", "camera-view", "matched", "stop", "infusion"];
  function showScreen(id) {
    if (id !== "matched" && id !== "stop") { releaseFocus(); }
    SCREENS.forEach(function (name) { var el = byId(name); if (el) { el.hidden = name !== id; } });
    root.dataset.screen = id;
    window.scrollTo(0, 0);
  }

  // ---- the full-screen decision is a modal alert dialog --------------------------------------
  // Everything outside it is inert (not clickable, not focusable, not read), Tab and Shift+Tab
  // cycle through its own buttons, and the page title names the decision ("STOP – wrong
  // patient") for the screen reader and the tab strip.
  var pageTitle = document.title;
  var heldTitle = null;
  function outside(dialog) {
    var others = [];
    for (var el = dialog; el && el.parentElement && el !== document.body; el = el.parentElement) {
      Array.prototype.forEach.call(el.parentElement.children, function (sibling) {
        if (sibling !== el && sibling.tagName !== "SCRIPT") { others.push(sibling); }
      });
    }
    return others;
  }
  function decisionTitle(dialog) {
    var word = dialog.id === "stop" ? byId("stop-title").firstChild.textContent.trim()
      : byId("matched-title").textContent.replace("✓", "").trim();
    var first = dialog.id === "stop" ? dialog.querySelector(".stop-reasons strong")
      : dialog.querySelector('[data-slot="patient-line"]');
    var detail = first ? first.textContent.trim() : "";
    return (detail ? word + " – " + detail : word) + pageTitle.slice(pageTitle.lastIndexOf(" · "));
  }
  function holdFocus(dialog) {
    releaseFocus();
    dialog.setAttribute("role", "alertdialog");
    dialog.setAttribute("aria-modal", "true");
    outside(dialog).forEach(function (el) { if (!el.inert) { el.inert = true; el.dataset.heldInert = "1"; } });
    heldTitle = decisionTitle(dialog);
    document.title = heldTitle;
  }
  function releaseFocus() {
    document.querySelectorAll("[data-held-inert]").forEach(function (el) { el.inert = false; delete el.dataset.heldInert; });
    ["matched", "stop"].forEach(function (id) {
      var el = byId(id);
      if (el) { el.removeAttribute("role"); el.removeAttribute("aria-modal"); }
    });
    if (heldTitle !== null) { document.title = pageTitle; heldTitle = null; }
  }
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Tab") { return; }
    var dialog = root.querySelector(".decision.fullscreen:not([hidden])");
    if (!dialog) { return; }
    var stops = Array.prototype.filter.call(dialog.querySelectorAll("a[href], button:not([disabled])"),
      function (el) { return el.getClientRects().length > 0; });
    if (!stops.length) { event.preventDefault(); return; }
    var first = stops[0], last = stops[stops.length - 1], at = document.activeElement;
    if (event.shiftKey && (at === first || at === dialog || !dialog.contains(at))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (at === last || !dialog.contains(at))) {
      event.preventDefault();
      first.focus();
    }
  });

  // ---- post-thaw countdowns ------------------------------------------------------------------------
  function tickCountdowns() {
    root.querySelectorAll("[data-countdown]").forEach(function (el) {
      var expires = Date.parse(el.dataset.countdown);
      if (!expires) { return; }
      var left = expires - serverNow().getTime();
      var holder = el.closest(".thaw, .strip-thaw") || el;
      holder.classList.toggle("soon", left > 0 && left < 30 * 60 * 1000);
      holder.classList.toggle("expired", left <= 0);
      el.textContent = left > 0 ? spoken(left) : t("EXPIRED — do not give");
    });
  }
  tickCountdowns();
  window.setInterval(tickCountdowns, 1000);

  // ---- talking to the server ------------------------------------------------------------------
  function postJson(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": data.csrf,
                 "Accept-Language": data.language || "en" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (json) { return { status: response.status, json: json }; },
                                  function () { return { status: response.status, json: null }; });
    });
  }

  // ---- 1. the scan step -----------------------------------------------------------------------
  var input = byId("scan-input");
  var prompt = byId("scan-prompt");
  var scans = [];          // {text, via, kind: patient|dose|other|unknown, label}
  var deciding = false;
  var camera = null;
  var queue = Promise.resolve();

  function scanActive() {
    return !byId("scan-step").hidden && !camera && !deciding;
  }

  function say(text, tone) {
    prompt.textContent = text;
    prompt.className = "scan-prompt" + (tone ? " " + tone : "");
  }

  function described(entry) {
    if (entry.kind === "patient") { return t("wristband %(label)s", { label: entry.label }); }
    if (entry.kind === "dose") { return t("dose bag %(label)s", { label: entry.label || t("(dose not known)") }); }
    return "“" + entry.text + "”";
  }

  function renderScans() {
    var patient = scans.find(function (s) { return s.kind === "patient"; });
    var dose = scans.find(function (s) { return s.kind === "dose"; });
    var how = function (s) { return s.via === "camera" ? " " + t("(camera)") : ""; };
    fill("patient-scan", patient ? patient.label + " ✓" + how(patient) : t("not scanned yet"));
    fill("dose-scan", dose ? (dose.label || t("dose label")) + " ✓" + how(dose) : t("not scanned yet"));
    byId("slot-patient").classList.toggle("done", Boolean(patient));
    byId("slot-dose").classList.toggle("done", Boolean(dose));
    if (patient && !dose) {
      say(t("Wristband %(label)s ✓ — now scan the dose bag", { label: patient.label }));
    } else if (dose && !patient) {
      say(t("Dose bag %(label)s ✓ — now scan the wristband", { label: dose.label || "" }));
    } else if (scans.length === 1) {
      say(t("First scan received — now scan the other label"));
    }
  }

  function classify(text) {
    return postJson(data.scanUrl, { scan: text }).then(function (answer) {
      if (answer.status === 200 && answer.json) { return answer.json; }
      return { kind: "unknown", label: null };
    }, function () { return { kind: "unknown", label: null }; });
  }

  function handle(text, via) {
    if (deciding || !text) { return null; }
    var again = scans.find(function (s) { return s.text === text; });
    if (again) {
      say(again.kind === "dose" ? t("That dose bag is scanned already — now scan the other label.") : t("That wristband is scanned already — now scan the other label."));
      return null;
    }
    var entry = { text: text, via: via, kind: "unknown", label: null };
    scans.push(entry);
    return classify(text).then(function (info) {
      entry.kind = info.kind;
      entry.label = info.label;
      renderScans();
      // A code that is no label of ours is a stop at once; two scans are checked together.
      if (entry.kind === "other" || scans.length >= 2) { return verify(); }
      return null;
    });
  }

  function accept(text, via) {
    queue = queue.then(function () { return handle(text.trim(), via); }).catch(function () {});
  }

  function verify() {
    deciding = true;
    say(t("Checking with the server…"));
    var patient = scans.find(function (s) { return s.kind === "patient"; });
    var dose = scans.find(function (s) { return s.kind === "dose"; });
    var first = scans[0], second = scans[1] || scans[0];
    var body = patient && dose ? { patient_scan: patient.text, dose_scan: dose.text }
                               : { patient_scan: first.text, dose_scan: second.text };
    return postJson(data.verifyUrl, body).then(function (answer) {
      var json = answer.json;
      if (answer.status === 200 && json && json.ok === true && json.patient && json.dose && json.visit) {
        showMatched(json, body);
      } else if (answer.status === 200 && json && json.ok === false) {
        showStop(json.stops);
      } else {
        showProblem(answer.status, json);
      }
    }, function () { showProblem(0, null); });
  }

  // ---- 2. the decision ------------------------------------------------------------------------
  function showMatched(check, body) {
    var p = check.patient, d = check.dose, v = check.visit;
    var patientLine = p.subject_id + " (" + initials(p.initials) + ", " + p.birth_year + ")";
    fill("patient-line", patientLine);
    fill("dose-line", d.code);
    fill("lot-line", t("lot %(lot_number)s", { lot_number: d.lot_number }));
    fill("visit-line", t("Visit %(number)s of %(visits_total)s", { number: v.number, visits_total: data.visits }));
    fill("window-line", t("window %(window_start)s to %(window_end)s", { window_start: v.window_start, window_end: v.window_end }));
    fill("strip", patientLine + " " + t("· Dose") + " " + d.code + " " + t("· Visit %(number)s of %(visits_total)s", { number: v.number, visits_total: data.visits }));
    var thawed = Boolean(d.thawed_at);
    reveal("thaw", thawed);
    reveal("strip-thaw", thawed);
    if (thawed) {
      fill("thawed-at", when(new Date(d.thawed_at)));
      fill("expires-at", when(new Date(d.expires_at)));
      root.querySelectorAll("[data-countdown]").forEach(function (el) { el.dataset.countdown = d.expires_at; });
      tickCountdowns();
    }
    var list = slots("warning-list")[0];
    list.textContent = "";
    (check.warnings || []).forEach(function (w) {
      var item = document.createElement("li");
      item.textContent = w.message;
      list.appendChild(item);
      var reason = root.querySelector('[data-warning="' + w.code + '"]');
      if (reason) { reason.hidden = false; }
    });
    reveal("warnings", (check.warnings || []).length > 0);
    byId("record-patient-scan").value = body.patient_scan;
    byId("record-dose-scan").value = body.dose_scan;
    byId("matched").classList.add("fullscreen");
    showScreen("matched");
    holdFocus(byId("matched"));
    play("ok");
    // The screen itself takes the focus, not its button: a stray scan's Enter decides nothing.
    byId("matched").focus();
  }

  function showStop(stops) {
    var list = slots("stops")[0];
    list.textContent = "";
    (stops || []).forEach(function (stop) {
      var item = document.createElement("li");
      var words = document.createElement("strong");
      words.textContent = stop.message;
      item.appendChild(words);
      if (stop.code) {
        var code = document.createElement("span");
        code.className = "stop-code";
        code.textContent = stop.code;
        item.appendChild(document.createTextNode(" "));
        item.appendChild(code);
      }
      list.appendChild(item);
    });
    fill("scanned", scans.length ? t("You scanned %(scans)s.", { scans: scans.map(described).join(t(" and ")) }) : "");
    byId("stop").classList.add("fullscreen");
    showScreen("stop");
    holdFocus(byId("stop"));
    play("stop");
    byId("stop").focus();
  }

  function showProblem(status, json) {
    var message;
    if (status === 401) {
      message = t("You are logged out after a time without activity. Start again: you will be asked to log in, then scan both labels again.");
    } else if (json && json.detail) {
      message = json.detail + " " + t("The check is not complete: do not give the dose.");
    } else {
      message = t("The check did not reach the server, so nothing is confirmed. Do not give the dose: start again, and call support if this repeats.");
    }
    showStop([{ code: status ? "HTTP " + status : "NO_ANSWER", message: message }]);
  }

  function continueToForm(event) {
    event.preventDefault();
    byId("matched").classList.remove("fullscreen");
    releaseFocus();
    showScreen("infusion");
    var start = byId("start-infusion");
    if (start && !byId("timer").hidden && !start.hidden) { start.focus(); }
  }

  // ---- the camera feeds the same flow -----------------------------------------------------------
  function openCamera() {
    if (camera || !window.BedsideCamera) { return; }
    var status = byId("camera-status");
    status.textContent = t("Starting the camera…");
    showScreen("camera-view");
    camera = window.BedsideCamera.open({
      video: byId("camera-video"), scriptUrl: data.zxingScript, wasmUrl: data.zxingWasm,
      onReady: function () {
        status.textContent = t("Hold the wristband or the dose bag’s square code inside the frame.");
      },
      onResult: function (text) {
        camera = null;
        showScreen("scan-step");
        input.focus();
        accept(text, "camera");
      },
      onError: function (message) {
        camera = null;
        showScreen("scan-step");
        say(t(message), "warn");  // the camera's words, in the reader's language
        input.focus();
      }
    });
  }

  function closeCamera() {
    if (camera) { camera.stop(); }
    camera = null;
    showScreen("scan-step");
    input.focus();
  }

  function initScan() {
    byId("scan-form").hidden = true;
    byId("scan-live").hidden = false;
    var cameraButton = byId("camera-button");
    if (window.BedsideCamera && window.BedsideCamera.supported()) {
      cameraButton.hidden = false;
      cameraButton.addEventListener("click", openCamera);
    }
    byId("camera-cancel").addEventListener("click", closeCamera);
    input.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") { return; }
      event.preventDefault();
      var text = input.value;
      input.value = "";
      if (text.trim()) { accept(text, "scanner"); }
    });
    // The field keeps the focus: a scanner's keystrokes must never land elsewhere.
    input.addEventListener("blur", function () {
      window.setTimeout(function () {
        var active = document.activeElement;
        if (scanActive() && (!active || active === document.body)) { input.focus(); }
      }, 0);
    });
    document.addEventListener("keydown", function (event) {
      if (scanActive() && document.activeElement !== input && event.key.length === 1
          && !event.ctrlKey && !event.metaKey && !event.altKey) {
        input.focus();
      }
    }, true);
    byId("continue").addEventListener("click", continueToForm);
    input.focus();
  }

  // ---- 3. the infusion form --------------------------------------------------------------------
  function initForm() {
    var form = byId("infusion-form");
    if (!form) { return; }
    var started = byId("started_at"), ended = byId("ended_at");
    var startButton = byId("start-infusion"), endButton = byId("end-infusion");
    var clockEl = byId("timer-clock"), stateEl = byId("timer-state");
    var problem = byId("record-problem");
    var parse = function (value) { return value && value.indexOf("T") > 0 ? new Date(value) : null; };
    var startedAt = parse(started.value), endedAt = parse(ended.value);
    var typedTimes = (started.value && !startedAt) || (ended.value && !endedAt)
      || form.querySelector("#started_at-error, #ended_at-error");

    function render() {
      startButton.hidden = Boolean(startedAt);
      endButton.hidden = !startedAt || Boolean(endedAt);
      if (!startedAt) {
        clockEl.textContent = "00:00";
        stateEl.textContent = t("Not started. Press Start infusion when the drip runs.");
      } else if (!endedAt) {
        clockEl.textContent = clock(serverNow() - startedAt);
        stateEl.textContent = t("Infusion running since %(time)s: %(lasted)s.",
          { time: hhmmss(startedAt), lasted: spoken(serverNow() - startedAt) });
      } else {
        clockEl.textContent = clock(endedAt - startedAt);
        stateEl.textContent = t("Infusion ended at %(ended)s after %(lasted)s (started %(started)s).",
          { ended: hhmmss(endedAt), lasted: spoken(endedAt - startedAt), started: hhmmss(startedAt) });
      }
      byId("timer").classList.toggle("running", Boolean(startedAt && !endedAt));
      byId("timer").classList.toggle("ended", Boolean(endedAt));
    }

    if (!typedTimes) {
      byId("times-manual").hidden = true;
      byId("timer").hidden = false;
      startButton.addEventListener("click", function () {
        startedAt = serverNow();
        started.value = startedAt.toISOString();
        render();
        endButton.focus();
      });
      endButton.addEventListener("click", function () {
        endedAt = serverNow();
        ended.value = endedAt.toISOString();
        render();
        byId("volume_ml").focus();
      });
      render();
      window.setInterval(function () { if (startedAt && !endedAt) { render(); } }, 1000);
    }

    var volume = byId("volume_ml");
    var reasonGroup = byId("partial-reason-group");
    var partial = function () {
      var value = parseFloat(volume.value);
      var short = value > 0 && value < fullVolume;
      byId("partial-note").hidden = !short;
      // Without a volume typed yet there is nothing to explain; an error keeps it shown.
      reasonGroup.hidden = !short && !form.querySelector("#partial_reason-error");
    };
    volume.addEventListener("input", partial);
    partial();

    // ---- an unusual duration asks for a confirmation (the server checks the same) ----
    var minMs = (parseFloat(data.minMinutes) || 5) * 60000, maxMs = (parseFloat(data.maxMinutes) || 240) * 60000;
    function typedMoment(value) {
      var match = /^([01]?[0-9]|2[0-3]):([0-5][0-9])$/.exec((value || "").trim());
      if (!match) { return parse(value); }
      return todayAt(parseInt(match[1], 10), parseInt(match[2], 10));
    }
    function checkDuration() {
      var start = startedAt || typedMoment(started.value), end = endedAt || typedMoment(ended.value);
      if (!start || !end) { return; }
      var length = end - start;
      if (length < 0) { length += 24 * 3600000; }
      var unusual = length < minMs || length > maxMs;
      var box = byId("duration-check");
      if (unusual) { box.hidden = false; } else if (!form.querySelector("#confirm_duration-error")) {
        box.hidden = true;
        byId("confirm_duration").checked = false;
      }
    }
    started.addEventListener("change", checkDuration);
    ended.addEventListener("change", checkDuration);

    // ---- the draft on the server: the entries survive the end of the session ----
    var keepAlive = byId("keep-alive");
    var resumeUrl = data.resumeUrl;
    var saving = null, savedTimer = null, lost = false;
    function fieldValues() {
      var values = {};
      ["started_at", "ended_at", "volume_ml", "adverse_events", "partial_reason", "witness_username"].forEach(function (name) {
        var el = form.elements[name];
        if (el && el.value) { values[name] = el.value; }
      });
      var grade = form.querySelector('input[name="tolerance_grade"]:checked');
      if (grade) { values.tolerance_grade = grade.value; }
      if (byId("serious").checked) { values.serious = "yes"; }
      if (byId("confirm_duration").checked) { values.confirm_duration = "yes"; }
      form.querySelectorAll('textarea[name^="reason_"]').forEach(function (el) { if (el.value) { values[el.name] = el.value; } });
      return values;
    }
    function say(text, isLost) {
      keepAlive.hidden = false;
      keepAlive.classList.toggle("lost", Boolean(isLost));
      keepAlive.textContent = text;
    }
    function sessionLost() {
      lost = true;
      var next = resumeUrl;
      var link = document.createElement("a");
      link.href = data.loginUrl + "?next=" + encodeURIComponent(next);
      link.id = "log-in-again";
      link.className = "button";
      link.textContent = t("Log in again to continue");
      say(t("Your session has ended. Nothing is recorded yet, and your entries are kept on the server (not the passwords).") + " ", true);
      keepAlive.appendChild(link);
      link.focus();
    }
    function running() { return Boolean(startedAt && !endedAt); }
    function saveDraft() {
      var body = { patient_scan: byId("record-patient-scan").value, dose_scan: byId("record-dose-scan").value,
                   fields: fieldValues() };
      if (!body.patient_scan || !body.dose_scan) { return Promise.resolve(true); }
      saving = fetch(data.draftUrl, {
        method: "POST", credentials: "same-origin", redirect: "manual",
        headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": data.csrf,
                 "Accept-Language": data.language || "en" },
        body: JSON.stringify(body)
      }).then(function (response) {
        var isJson = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        if (response.type === "opaqueredirect" || !isJson || response.status === 400 || response.status === 401) {
          sessionLost();
          return false;
        }
        return response.json().then(function (json) {
          if (!json.saved) { return true; }  // nothing to keep yet (e.g. a field too long): not a lost session
          resumeUrl = json.resume || resumeUrl;
          lost = false;
          say((running() ? t("The infusion is running: you stay signed in while it runs.") + " " : "")
              + t("Your entries are saved on the server (%(time)s).", { time: hhmm(new Date(json.saved_at)) }));
          return true;
        });
      }, function () {
        say(t("The server did not answer: your latest entries may not be saved yet. They are tried again in a minute."), true);
        return true;
      });
      return saving;
    }
    function saveSoon() {
      window.clearTimeout(savedTimer);
      savedTimer = window.setTimeout(saveDraft, 800);
    }
    form.addEventListener("input", function (event) {
      if (event.target && event.target.type !== "password") { saveSoon(); }
    });
    form.addEventListener("change", function (event) {
      if (event.target && event.target.type !== "password") { saveSoon(); }
    });
    if (startButton) {
      startButton.addEventListener("click", function () { checkDuration(); saveDraft(); });
      endButton.addEventListener("click", function () { checkDuration(); saveDraft(); });
    }
    // While the drip runs the page talks to the server every minute: the idle timeout
    // (data-idle-minutes) never ends the nurse's session in the middle of an infusion.
    window.setInterval(function () { if (running() && !lost) { saveDraft(); } }, 60000);
    if (running()) { saveDraft(); }
    checkDuration();

    var confirmedSubmit = false;
    form.addEventListener("submit", function (event) {
      if (!typedTimes && !(startedAt && endedAt)) {
        event.preventDefault();
        problem.textContent = startedAt ? t("Press End infusion when the infusion is finished, then record it.")
                                        : t("Press Start infusion when the drip runs and End infusion when it is finished.");
        problem.hidden = false;
        (startedAt ? endButton : startButton).focus();
        return;
      }
      if (confirmedSubmit) { return; }
      // Save first: if the session has ended the entries are kept and the nurse logs in again,
      // instead of a refused form that loses them.
      event.preventDefault();
      var button = byId("record-button");
      button.disabled = true;
      button.textContent = t("Recording…");
      saveDraft().then(function (alive) {
        if (!alive) {
          button.disabled = false;
          button.textContent = t("Record the infusion");
          return;
        }
        confirmedSubmit = true;
        form.requestSubmit ? form.requestSubmit() : form.submit();
      });
    });
  }

  if (data.state === "scan") { initScan(); }
  if (data.state === "matched") { play("ok"); }
  if (data.state === "stop") { holdFocus(byId("stop")); play("stop"); byId("stop").focus(); }
  initForm();
}());
