// Kiosk monitor: every few seconds, fetch the rows the server renders (the same template as the
// page, so the same language and times) and the totals, and put them in place. The rows are
// HTML our own server escaped; nothing a kiosk reports is ever put in as markup here.
(function () {
  "use strict";
  var table = document.getElementById("kiosks");
  if (!table) { return; }
  var REFRESH_MS = 5000;
  var tbody = table.querySelector("tbody");
  var stamp = document.getElementById("refreshed");

  function two(n) { return (n < 10 ? "0" : "") + n; }

  function refresh() {
    fetch(table.dataset.rows, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        // Signed out (idle or elsewhere): the sign-in page answers instead.
        if (r.redirected || r.status === 401) { window.location.reload(); throw new Error("signed out"); }
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.text();
      })
      .then(function (html) {
        var rows = document.createElement("template");
        rows.innerHTML = html;
        tbody.replaceChildren(rows.content);
        var now = new Date();
        if (stamp) { stamp.textContent = stamp.dataset.updated + " " + two(now.getHours()) + ":" + two(now.getMinutes()); }
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
        if (stamp) { stamp.textContent = stamp.dataset.failed + ": " + err.message; }
      })
      .finally(function () { window.setTimeout(refresh, REFRESH_MS); });
  }

  window.setTimeout(refresh, REFRESH_MS);
})();
