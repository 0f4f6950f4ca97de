/* Shuxiang kiosk: the find-a-book screen (templates/kiosk/_search.html).
 *
 * A full-screen overlay with its own keyboard: letters for pinyin and initials, digits for
 * ISBNs and call numbers. Results come from GET /api/search as the student types (debounced;
 * a late reply to an older query is dropped). For a signed-in student, a title with no copy
 * on the shelf gets a "Reserve" button that POSTs /api/holds {"title_id"} and shows the
 * reply's message.
 *
 * Privacy: nothing of a search is kept anywhere but this closure and the overlay's DOM, and
 * both are wiped on close, after the idle timeout without a touch, and whenever kiosk.js
 * wipes the student's session ("kiosk:wipe"). No history entry is ever pushed.
 */
"use strict";

(function () {
  const configNode = document.getElementById("search-config");
  if (configNode) startSearch(JSON.parse(configNode.textContent));
})();

function startSearch(cfg) {
  const $ = (id) => document.getElementById(id);
  const ui = {
    overlay: $("search"),
    display: $("search-display"),
    status: $("search-status"),
    results: $("search-results"),
  };
  let lang = (document.documentElement.lang || "zh").slice(0, 2);
  let query = "";
  let results = null; // the last reply's results, or null before any
  let statusKey = "hint";
  let messages = {}; // title_id -> {text, tone}: what the Reserve button's reply said
  let asked = 0; // bumped by every query and every wipe: a reply to an older one is dropped
  let debounceTimer = null;
  let lastTouch = 0;

  const t = (key, values) =>
    (cfg.strings[lang][key] || key).replace(/\{(\w+)\}/g, (m, name) =>
      values && name in values ? String(values[name]) : m,
    );
  const countKey = (base, n) => base + (n === 1 ? "_one" : "_other");

  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function signedIn() {
    return document.body.dataset.screen === "session";
  }

  // --- opening, closing, wiping ------------------------------------------------------------

  function open() {
    wipe();
    ui.overlay.hidden = false;
    lastTouch = performance.now();
    document.body.dataset.search = "open";
  }

  function close() {
    wipe();
    ui.overlay.hidden = true;
    document.body.dataset.search = "closed";
  }

  function wipe() {
    asked += 1;
    clearTimeout(debounceTimer);
    query = "";
    results = null;
    messages = {};
    statusKey = "hint";
    render();
  }

  // --- typing and asking -------------------------------------------------------------------

  function press(key) {
    if (query.length >= cfg.maxChars) return;
    if (key === " " && (query === "" || query.endsWith(" "))) return;
    query += key;
    changed();
  }

  function changed() {
    asked += 1;
    clearTimeout(debounceTimer);
    messages = {};
    if (!query.trim()) {
      results = null;
      statusKey = "hint";
      render();
      return;
    }
    statusKey = "searching";
    renderDisplay();
    renderStatus();
    const mark = asked;
    debounceTimer = setTimeout(() => ask(mark), cfg.debounceMs);
  }

  function request(method, url, body) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), cfg.requestTimeoutMs);
    return fetch(url, {
      method,
      headers: { "Content-Type": "application/json", "X-Kiosk-Language": lang },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "same-origin",
      signal: abort.signal,
    })
      .then((response) => response.json().then((data) => ({ ok: response.ok, data })))
      .finally(() => clearTimeout(timer));
  }

  function ask(mark) {
    const url = cfg.urls.search + "?limit=" + cfg.limit + "&q=" + encodeURIComponent(query);
    request("GET", url)
      .then(({ ok, data }) => {
        if (!ok) throw new Error(data && data.message);
        return data.results;
      })
      .then(
        (found) => {
          if (mark !== asked) return;
          results = found;
          statusKey = found.length ? "found" : "nothing";
          render();
        },
        () => {
          if (mark !== asked) return;
          results = [];
          statusKey = "error";
          render();
        },
      );
  }

  function reserve(titleId, button) {
    const mark = asked;
    button.disabled = true;
    button.textContent = t("reserving");
    request("POST", cfg.urls.holds, { title_id: titleId }).then(
      ({ ok, data }) => {
        if (mark !== asked) return;
        const text = (data && data.message) || t("error");
        messages[titleId] = { text, tone: ok && data.ok !== false ? "ok" : "refused" };
        renderResults();
      },
      () => {
        if (mark !== asked) return;
        messages[titleId] = { text: t("error"), tone: "refused" };
        renderResults();
      },
    );
  }

  // --- drawing -----------------------------------------------------------------------------

  function render() {
    renderDisplay();
    renderStatus();
    renderResults();
  }

  function renderDisplay() {
    ui.display.textContent = query;
  }

  function renderStatus() {
    if (statusKey === "found") {
      ui.status.textContent = t(countKey("found", results.length), { n: results.length });
    } else {
      ui.status.textContent = t(statusKey);
    }
    ui.status.dataset.state = statusKey;
  }

  function renderResults() {
    ui.results.replaceChildren(...(results || []).map(resultFor));
  }

  function resultFor(hit) {
    const li = make("li", "result" + (hit.available ? " result-in" : " result-out"));
    li.dataset.titleId = String(hit.title_id);
    const text = make("div", "result-text");
    text.append(make("p", "result-title", hit.title));
    if (hit.author) text.append(make("p", "result-author", hit.author));
    const where = make("p", "result-where");
    where.append(
      make("span", "result-call", t("call_number") + " " + (hit.call_number || "—")),
    );
    if (hit.location) where.append(make("span", "result-shelf", hit.location));
    text.append(where);
    li.append(text);

    const side = make("div", "result-side");
    let availability;
    if (hit.available > 0) {
      availability = t(countKey("on_shelf", hit.available), { n: hit.available });
    } else {
      availability = hit.copies > 0 ? t("all_out") : t("no_copies");
    }
    side.append(make("p", "result-available", availability));
    const said = messages[hit.title_id];
    if (said) {
      side.append(make("p", "result-message result-message-" + said.tone, said.text));
    } else if (hit.available === 0 && hit.copies > 0 && signedIn()) {
      const button = make("button", "btn btn-primary result-reserve", t("reserve"));
      button.type = "button";
      button.addEventListener("click", () => reserve(hit.title_id, button));
      side.append(button);
    }
    li.append(side);
    return li;
  }

  function relabel() {
    for (const node of document.querySelectorAll("[data-st]")) {
      node.textContent = t(node.dataset.st);
    }
    render();
  }

  // --- idle --------------------------------------------------------------------------------

  function tick() {
    // From the idle screen no student session times the page out, so the search does:
    // after the idle timeout without a touch, nothing of it stays.
    if (!ui.overlay.hidden && performance.now() - lastTouch > cfg.idleTimeoutS * 1000) close();
  }

  // --- wiring ------------------------------------------------------------------------------

  $("search-open").addEventListener("click", open);
  $("search-close").addEventListener("click", close);
  $("search-delete").addEventListener("click", () => {
    query = query.slice(0, -1);
    changed();
  });
  $("search-clear").addEventListener("click", () => {
    query = "";
    changed();
  });
  for (const key of document.querySelectorAll("[data-search-key]")) {
    key.addEventListener("click", () => press(key.dataset.searchKey));
  }
  ui.overlay.addEventListener("pointerdown", () => {
    lastTouch = performance.now();
  }, true);
  // kiosk.js ends a student's session (Done, timeout, another card): the search goes too.
  document.addEventListener("kiosk:wipe", close);
  document.addEventListener("kiosk:language", (event) => {
    lang = event.detail.lang;
    relabel();
  });
  setInterval(tick, 500);
  document.body.dataset.search = "closed";
}
