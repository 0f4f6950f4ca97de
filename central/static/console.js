// Kiosk monitor: refetch /api/v1/kiosks every few seconds and rebuild the rows.
// Everything a kiosk reports is put in with textContent, never as HTML.
(function () {
  "use strict";
  var table = document.getElementById("kiosks");
  if (!table) { return; }
  var REFRESH_MS = 5000;
  var tbody = table.querySelector("tbody");

  function cell(row, text, cls) {
    var td = document.createElement("td");
    if (text !== undefined && text !== null) { td.textContent = String(text); }
    if (cls) { td.className = cls; }
    row.appendChild(td);
    return td;
  }

  function span(parent, text, cls) {
    var s = document.createElement("span");
    s.textContent = text;
    if (cls) { s.className = cls; }
    parent.appendChild(s);
    return s;
  }

  function sub(parent, text) {
    var d = document.createElement("div");
    d.className = "sub";
    d.textContent = text;
    parent.appendChild(d);
  }

  function dash(v) { return v === null || v === undefined ? "\u2014" : String(v); }

  function render(k) {
    var tr = document.createElement("tr");
    tr.dataset.kiosk = k.kiosk_id;
    if (k.alert) { tr.className = "alert"; }
    var first = cell(tr);
    var a = document.createElement("a");
    a.href = table.dataset.detail.replace("KIOSK", encodeURIComponent(k.kiosk_id));
    a.textContent = k.kiosk_id;
    first.appendChild(a);
    sub(first, k.name || "");
    var status = cell(tr);
    span(status, k.online ? "online" : "offline", k.online ? "pill ok" : "pill bad");
    if (k.heartbeat_age_s !== null) { sub(status, Math.round(k.heartbeat_age_s) + " s ago"); }
    if (k.db_ok === false) {
      var db = document.createElement("div");
      db.className = "warn";
      db.dataset.db = "down";
      db.textContent = "\u6570\u636e\u5e93\u6545\u969c \u00b7 database not working";
      status.appendChild(db);
    }
    var scanner = cell(tr);
    if (k.scanner_connected === null) { scanner.textContent = "\u2014"; }
    else if (k.scanner_connected) { scanner.textContent = "connected"; }
    else { span(scanner, "disconnected", "warn"); }
    var backlog = cell(tr, dash(k.backlog));
    if (k.backlog_overdue) {
      span(backlog, " waiting " + Math.round(k.backlog_age_s / 60) + " min", "warn");
    }
    if (k.next_push_at) {
      sub(backlog, (k.next_push_in_s >= 0 ? "next push ~" : "push was due ") +
        k.next_push_at.slice(11, 16) + " UTC");
    }
    cell(tr, k.last_sync_at || "never");
    cell(tr, k.last_error || "", "error-text");
    cell(tr, dash(k.checkouts_today) + " / " + dash(k.returns_today));
    var clock = cell(tr, k.clock_offset_s === null ? "\u2014" : k.clock_offset_s + " s");
    if (k.clock_doubtful) { span(clock, " doubtful", "warn"); }
    return tr;
  }

  function refresh() {
    fetch(table.dataset.api, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); throw new Error("signed out"); }
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (data) {
        var rows = document.createDocumentFragment();
        data.kiosks.forEach(function (k) { rows.appendChild(render(k)); });
        if (data.kiosks.length) {
          tbody.replaceChildren(rows);
        }
        var stamp = document.getElementById("refreshed");
        if (stamp) { stamp.textContent = "updated " + new Date().toLocaleTimeString(); }
        return fetch(table.dataset.stats, { credentials: "same-origin" });
      })
      .then(function (r) { return r && r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) { return; }
        document.getElementById("t-loans").textContent = s.loans_open;
        document.getElementById("t-on-kiosks").textContent = s.events_on_kiosks;
        document.getElementById("t-events").textContent = s.events_total;
        document.getElementById("t-exceptions").textContent = s.exceptions_open;
      })
      .catch(function (err) {
        var stamp = document.getElementById("refreshed");
        if (stamp) { stamp.textContent = "not updated: " + err.message; }
      })
      .finally(function () { window.setTimeout(refresh, REFRESH_MS); });
  }

  window.setTimeout(refresh, REFRESH_MS);
})();
