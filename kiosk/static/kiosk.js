/* Shuxiang kiosk page: one screen at a time, drawn from the kiosk server's replies.
 *
 * Scans reach this page two ways and end in the same drawing: serial scans arrive as
 * server-sent events (GET /events); keyboard-wedge bursts and the on-screen keypad are POSTed
 * to /api/scan and drawn from the reply. The server publishes every scan on the event stream,
 * so only serial ones are drawn from there, or the page's own scans would appear twice.
 *
 * Privacy: the page never pushes a history entry, and when a student's session ends (Done,
 * idle timeout, another card, a lost server) every trace of them is wiped from the DOM, from
 * the variables below and from any open dialog, so Back or the next student sees nothing.
 *
 * The same file drives the staff sign-in PIN pad; each part starts only if its markup exists.
 */
"use strict";

(function () {
  const configNode = document.getElementById("kiosk-config");
  if (configNode) startKiosk(JSON.parse(configNode.textContent));
  const pinPad = document.getElementById("pin-pad");
  if (pinPad) startPinPad(pinPad);
})();

function startKiosk(cfg) {
  const $ = (id) => document.getElementById(id);
  const ui = {
    root: document.documentElement,
    screens: {
      idle: $("screen-idle"),
      session: $("screen-session"),
      done: $("screen-done"),
      returns: $("screen-returns"),
    },
    libraryName: $("library-name"),
    today: $("today"),
    scannerOff: $("scanner-off"),
    linkOff: $("link-off"),
    langToggle: $("lang-toggle"),
    greeting: $("greeting"),
    countBooks: $("count-books"),
    countMay: $("count-may"),
    holds: $("holds"),
    holdsReady: $("holds-ready"),
    holdList: $("hold-list"),
    scanList: $("scan-list"),
    scanEmpty: $("scan-empty"),
    loanList: $("loan-list"),
    loansEmpty: $("loans-empty"),
    doneTitle: $("done-title"),
    doneBorrowed: $("done-borrowed"),
    doneList: $("done-list"),
    doneNothing: $("done-nothing"),
    doneBack: $("done-back"),
    returnList: $("return-list"),
    banner: $("banner"),
    keypad: $("keypad"),
    keypadDisplay: $("keypad-display"),
    keysDigits: $("keys-digits"),
    keysLetters: $("keys-letters"),
    stillHere: $("still-here"),
    stillHereCount: $("still-here-count"),
  };

  // --- state -------------------------------------------------------------------------------
  // Everything about the signed-in student is inside `student`; wipe() drops it whole.
  let student = null; // {patron, lines: [reply], deadline}
  let returnLines = []; // replies for books returned with no card
  let doneState = null; // {name, borrowed: [reply]} while the goodbye screen shows
  let banner = null; // {reply} or {key}, with a tone
  let screen = "idle";
  let lang = cfg.lang;
  let screenDeadline = 0; // when the done/returns screen goes back to idle
  let keypadBuffer = "";
  let seq = 0; // bumped by every drawn reply, so a slow session check can tell it is stale
  let inflight = 0;
  let events = null;
  let reconnectTimer = null;
  let linkTimer = null;
  let soundCount = 0;
  let audio = null;

  const MAX_LINES = 30;
  const t = (key, values) => format(cfg.strings[lang][key] || key, values);
  const countKey = (base, n) => base + (n === 0 ? "_none" : n === 1 ? "_one" : "_other");

  function format(template, values) {
    if (!values) return template;
    return template.replace(/\{(\w+)\}/g, (match, name) =>
      name in values ? String(values[name]) : match,
    );
  }

  function localeTag() {
    // en-GB: "Wed 9 December", never the month-first dates of en-US.
    return lang === "zh" ? "zh-CN" : "en-GB";
  }

  function formatDate(iso) {
    if (!iso) return "";
    const [y, m, d] = iso.slice(0, 10).split("-").map(Number);
    // Noon UTC and a UTC formatter: the library-local date from the server stays that date.
    const date = new Date(Date.UTC(y, m - 1, d, 12));
    return new Intl.DateTimeFormat(localeTag(), {
      weekday: "short",
      month: "long",
      day: "numeric",
      timeZone: "UTC",
    }).format(date);
  }

  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // --- talking to the kiosk server ---------------------------------------------------------

  function call(method, url, body) {
    inflight += 1;
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
      .then((response) => {
        if (!response.ok) {
          // Keep a JSON body: a scan the kiosk could not record still says why (HTTP 503).
          return response.json().catch(() => null).then((body) => {
            const error = new Error("HTTP " + response.status);
            error.status = response.status;
            error.body = body;
            throw error;
          });
        }
        return response.json();
      })
      .finally(() => {
        clearTimeout(timer);
        inflight -= 1;
      });
  }

  function showError(error) {
    // A refused scan reply ("can't record loans right now") is drawn like any refusal.
    if (error && error.body && error.body.action) return handleReply(error.body);
    // A reply that never came means the server (or the way to it) is down.
    const key = error && error.status ? "error_server" : "error_link";
    setBanner({ key }, "refused");
    playSound("refused");
  }

  function submitCode(code, typed) {
    const clean = code.trim();
    if (!clean) return;
    closeKeypad();
    call("POST", cfg.urls.scan, { code: clean }).then((reply) => {
      // A number typed on the keypad was not scanned: "scan it again" would be wrong advice.
      if (typed && reply) reply.typed = true;
      handleReply(reply);
    }, showError);
  }

  function pressLineButton(what, item) {
    const url = what === "renew" ? cfg.urls.renew : cfg.urls.return;
    call("POST", url, { code: item }).then((reply) => {
      if (student) {
        // The answer replaces the question it answers.
        student.lines = student.lines.filter(
          (r) => !(r.action === "renew_or_return" && r.item_barcode === item),
        );
      }
      handleReply(reply);
    }, showError);
  }

  function cancelReservation(holdId) {
    call("DELETE", cfg.urls.holds + "/" + holdId).then((reply) => {
      if (!student) return;
      const session = reply.session || {};
      if (session.patron) student.patron = session.patron;
      setDeadline(session);
      setBanner({ reply }, "ok");
      render();
      playSound("ok");
    }, showError);
  }

  function forgetServerSession(reason) {
    call("POST", cfg.urls.forget, { reason }).catch(() => {
      // The server is unreachable; it forgets the student by itself when it times out.
    });
  }

  // --- drawing a reply ---------------------------------------------------------------------

  function handleReply(reply) {
    if (!reply || reply.action === "ignored") return;
    seq += 1;
    const active = Boolean(reply.session && reply.session.active);
    const action = reply.action;
    if (action === "signed_in" || action === "switched") {
      // A sign-in always starts from a clean page: nothing of whoever was here before stays,
      // even if their session ended in a way this page has not heard about yet.
      wipe();
      student = { patron: reply.patron, lines: [], deadline: 0 };
      setDeadline(reply.session);
      setBanner({ reply }, "ok");
      show("session");
      playSound("ok");
      return;
    }
    if ((screen === "session" && !active) || screen === "done") {
      // The server ended the session (timeout, or a refused card), or the next student is
      // here while the last one's goodbye still shows: forget the last student first.
      toIdle(false);
    }
    if (active && !student && reply.patron) {
      // The server applied this scan to a signed-in student this page had not drawn (its
      // event stream was reconnecting): show them, or a loan would happen unseen.
      student = { patron: reply.patron, lines: [], deadline: 0 };
    }
    if (active && student) {
      if (reply.patron) student.patron = reply.patron;
      setDeadline(reply.session);
      if (reply.kind !== "patron" && action !== "unknown") addLine(student.lines, reply);
      setBanner({ reply }, toneOf(reply));
      show("session");
    } else if (reply.kind === "patron" || action === "unknown" || !reply.title) {
      // A refused card or an unreadable code: say so where the student already is.
      setBanner({ reply }, toneOf(reply));
      render();
    } else {
      addLine(returnLines, reply);
      setBanner({ reply }, toneOf(reply));
      screenDeadline = performance.now() + cfg.returnsS * 1000;
      show("returns");
    }
    playSound(toneOf(reply));
  }

  function toneOf(reply) {
    // A book that simply isn't on loan is no error: calm words, no red.
    if (reply.action === "refused" && reply.reason === "not_on_loan") return "info";
    if (reply.action === "refused" || reply.action === "unknown") return "refused";
    if (reply.action === "renew_or_return") return "ask";
    return "ok";
  }

  function addLine(lines, reply) {
    lines.unshift(reply);
    if (lines.length > MAX_LINES) lines.length = MAX_LINES;
  }

  function setDeadline(session) {
    if (!student) return;
    const left = session && typeof session.expires_in_s === "number"
      ? session.expires_in_s
      : cfg.idleTimeoutS;
    student.deadline = performance.now() + left * 1000;
  }

  function setBanner(state, tone) {
    banner = state ? Object.assign({ tone }, state) : null;
    renderBanner();
  }

  function show(name) {
    // The goodbye summary names the last student: it must not outlive its screen.
    if (name !== "done") doneState = null;
    screen = name;
    for (const [key, node] of Object.entries(ui.screens)) node.hidden = key !== name;
    document.body.dataset.screen = name;
    render();
  }

  // --- rendering ---------------------------------------------------------------------------

  function render() {
    renderSession();
    renderDone();
    ui.returnList.replaceChildren(...returnLines.map(lineFor));
    renderBanner();
    markScrolling();
  }

  // A list taller than its box says so at its bottom edge (kiosk.css, [data-more]) until it
  // has been scrolled to the end: a card cut in half must not look like the last one.
  function markScrolling() {
    for (const node of document.querySelectorAll("[data-scrolls]")) {
      const hidden = node.scrollHeight - node.clientHeight - node.scrollTop;
      if (node.clientHeight > 0 && hidden > 2) node.dataset.more = t("more_below");
      else delete node.dataset.more;
    }
  }

  function renderBanner() {
    if (!banner) {
      ui.banner.textContent = "";
      ui.banner.className = "banner";
      return;
    }
    ui.banner.textContent = banner.reply ? messageOf(banner.reply) : t(banner.key);
    ui.banner.className = "banner banner-" + banner.tone;
  }

  function messageOf(reply) {
    if (reply.typed && reply.action === "unknown") return t("unknown_typed");
    return reply.message || "";
  }

  function renderSession() {
    if (!student) {
      ui.greeting.textContent = "";
      ui.countBooks.textContent = "";
      ui.countMay.textContent = "";
      ui.holds.hidden = true;
      ui.holdList.replaceChildren();
      ui.scanList.replaceChildren();
      ui.loanList.replaceChildren();
      ui.scanEmpty.hidden = false;
      ui.loansEmpty.hidden = true;
      return;
    }
    const patron = student.patron || { first_name: "", loans: [], holds_ready: [], may_borrow: 0 };
    const loans = patron.loans || [];
    ui.greeting.textContent = t("hello", { name: patron.first_name });
    ui.countBooks.textContent = t(countKey("books", loans.length), { n: loans.length });
    ui.countMay.textContent = t(countKey("may_borrow", patron.may_borrow), {
      n: patron.may_borrow,
    });
    // Holds (ready ones first), each with a Cancel button: kiosk/static/holds.js.
    const holds = patron.holds || [];
    ui.holds.hidden = holds.length === 0;
    ui.holdsReady.hidden = !holds.some((hold) => hold.status === "ready");
    const helpers = { t, formatDate, make, cancel: cancelReservation };
    ui.holdList.replaceChildren(...holds.map((hold) => window.ShuxiangHolds.item(hold, helpers)));
    ui.scanEmpty.hidden = student.lines.length > 0;
    ui.scanList.replaceChildren(...student.lines.map(lineFor));
    ui.loanList.replaceChildren(...loans.map(loanFor));
    ui.loansEmpty.hidden = loans.length > 0;
  }

  function loanFor(loan) {
    const overdue = loan.days_overdue > 0;
    const li = make("li", "loan" + (overdue ? " loan-overdue" : ""));
    li.append(make("span", "loan-title", loan.title));
    li.append(make("span", "loan-due", t("due", { date: formatDate(loan.due_date) })));
    if (overdue) {
      li.append(make("span", "tag tag-overdue", t(countKey("overdue", loan.days_overdue), {
        n: loan.days_overdue,
      })));
    }
    // The chase's reminder ([chase] kiosk_reminder_days): the sentence the student reads.
    if (loan.remind) {
      li.append(make("p", "loan-reminder", t(countKey("overdue_reminder", loan.days_overdue), {
        title: loan.title,
        n: loan.days_overdue,
      })));
    }
    return li;
  }

  function lineFor(reply) {
    const tone = toneOf(reply);
    const li = make("li", "line line-" + tone);
    li.dataset.action = reply.action;
    if (reply.title) li.append(make("p", "line-title", reply.title));
    const status = make("p", "line-status");
    switch (reply.action) {
      case "checked_out":
        status.textContent = t("borrowed_due", { date: formatDate(reply.due_date) });
        break;
      case "renewed":
        status.textContent = t("renewed_due", { date: formatDate(reply.due_date) });
        break;
      case "returned": {
        // Where the book goes matters as much as "Returned": a held book must not
        // disappear into the return box.
        const where = { hold_shelf: "to_hold_shelf", librarian: "to_librarian" };
        status.append(
          make("strong", null, t("returned")),
          make("span", "where where-" + (reply.destination || "return_box"),
            t(where[reply.destination] || "to_return_box")),
        );
        li.append(status);
        if (reply.days_overdue > 0) {
          li.append(make("p", "tag tag-overdue", t(countKey("overdue", reply.days_overdue), {
            n: reply.days_overdue,
          })));
        }
        return li;
      }
      default:
        status.textContent = messageOf(reply);
    }
    li.append(status);
    if (reply.action === "renew_or_return" && student) {
      const buttons = make("div", "line-buttons");
      // Renew is offered only when the server says it would be allowed; otherwise the
      // sentence above says why, and when renewing becomes possible.
      const choices = reply.reason ? ["return"] : ["renew", "return"];
      for (const what of choices) {
        const button = make("button", "btn btn-big btn-" + what, t(what));
        button.type = "button";
        button.addEventListener("click", () => pressLineButton(what, reply.item_barcode));
        buttons.append(button);
      }
      li.append(buttons);
    }
    return li;
  }

  function renderDone() {
    if (!doneState) {
      ui.doneTitle.textContent = "";
      ui.doneList.replaceChildren();
      ui.doneBack.textContent = "";
      return;
    }
    ui.doneTitle.textContent = t("done_title", { name: doneState.name });
    const borrowed = doneState.borrowed;
    ui.doneBorrowed.hidden = borrowed.length === 0;
    ui.doneNothing.hidden = borrowed.length > 0;
    ui.doneList.replaceChildren(
      ...borrowed.map((reply) => {
        const li = make("li", "loan");
        li.append(make("span", "loan-title", reply.title));
        li.append(make("span", "loan-due", t("due", { date: formatDate(reply.due_date) })));
        return li;
      }),
    );
    renderDoneCountdown();
  }

  function renderDoneCountdown() {
    if (screen !== "done") return;
    const left = Math.max(0, Math.ceil((screenDeadline - performance.now()) / 1000));
    ui.doneBack.textContent = t("done_back", { n: left });
  }

  function renderToday() {
    // Today's date in the library's time zone, written like every other date on the screen.
    const parts = new Intl.DateTimeFormat("en-CA", {
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      timeZone: cfg.timezone,
    }).format(new Date());
    ui.today.textContent = formatDate(parts);
  }

  // --- ending a session --------------------------------------------------------------------

  function wipe() {
    student = null;
    returnLines = [];
    doneState = null;
    banner = null;
    closeKeypad();
    hideStillHere();
    render();
    // The find-a-book screen (search.js) keeps its own state and wipes it on this.
    document.dispatchEvent(new CustomEvent("kiosk:wipe"));
  }

  function toIdle(resetLanguage) {
    wipe();
    show("idle");
    if (resetLanguage && lang !== cfg.defaultLang) setLanguage(cfg.defaultLang);
  }

  function finishSession() {
    if (!student) return toIdle(true);
    const name = student.patron ? student.patron.first_name : "";
    const borrowed = student.lines
      .filter((r) => r.action === "checked_out" || r.action === "renewed")
      .reverse();
    call("POST", cfg.urls.end).catch(() => {
      // Unreachable server: it will forget the student at its own timeout, and the page
      // checks again when the event stream comes back.
    });
    wipe();
    doneState = { name, borrowed };
    screenDeadline = performance.now() + cfg.doneS * 1000;
    show("done");
    playSound("ok");
  }

  function expire() {
    // The session is over whatever else is open: keypad, dialog, error.
    toIdle(true);
    setBanner({ key: "signed_out" }, "info");
    forgetServerSession("idle_timeout");
  }

  function tick() {
    const now = performance.now();
    if (screen === "session" && student) {
      const left = student.deadline - now;
      if (left <= 0) {
        expire();
      } else if (left <= cfg.countdownS * 1000) {
        showStillHere(Math.ceil(left / 1000));
      } else {
        hideStillHere();
      }
    } else if (screen === "done" || screen === "returns") {
      if (now >= screenDeadline) toIdle(true);
      else renderDoneCountdown();
    } else if (screen === "idle" && banner && banner.key === "signed_out") {
      // The goodbye note is not student data, but it should not linger for the next one.
      if (!banner.until) banner.until = now + cfg.doneS * 1000;
      else if (now >= banner.until) setBanner(null);
    }
  }

  function showStillHere(seconds) {
    ui.stillHereCount.textContent = t("still_here_left", { n: seconds });
    ui.stillHere.hidden = false;
  }

  function hideStillHere() {
    ui.stillHere.hidden = true;
    ui.stillHereCount.textContent = "";
  }

  function stillHere() {
    hideStillHere();
    call("POST", cfg.urls.touch).then((reply) => {
      if (reply.session && reply.session.active) setDeadline(null);
      else if (screen === "session") expire();
    }, showError);
  }

  // Make the page agree with the server: a session exists exactly when the screen shows it.
  function reconcile() {
    const mark = seq;
    if (inflight) return;
    call("GET", cfg.urls.session).then((info) => {
      if (mark !== seq || inflight) return; // a newer reply already said what is true
      if (!info.active) {
        if (screen === "session") {
          toIdle(true);
          setBanner({ key: "signed_out" }, "info");
        }
      } else if (screen === "session" && student) {
        if (info.patron) student.patron = info.patron;
        setDeadline({ expires_in_s: info.expires_in_s });
        render();
      } else {
        // A student the screen does not show must not stay signed in: the next book
        // scanned here would be lent to them instead of returned.
        forgetServerSession("page_out_of_step");
      }
    }, () => {});
  }

  // --- event stream ------------------------------------------------------------------------

  function connectEvents() {
    if (events) events.close();
    clearTimeout(reconnectTimer);
    // Not "down": a deliberate reconnect (new language) shows no warning.
    document.body.dataset.link = "connecting";
    events = new EventSource(cfg.urls.events + "?lang=" + encodeURIComponent(lang));
    events.onopen = () => {
      linkUp();
      reconcile();
    };
    events.onerror = () => {
      linkDown();
      // The browser retries by itself unless the stream failed outright (CLOSED).
      if (events.readyState === EventSource.CLOSED) {
        reconnectTimer = setTimeout(connectEvents, cfg.reconnectMs);
      }
    };
    events.addEventListener("scan", (e) => {
      const data = JSON.parse(e.data);
      if (data.source === "serial") handleReply(data.reply);
    });
    events.addEventListener("scanner", (e) => {
      setScanner(JSON.parse(e.data).connected);
    });
    events.addEventListener("session_ended", (e) => {
      const data = JSON.parse(e.data);
      // "switched" comes with the new student's sign-in, which draws itself.
      if (data.reason !== "switched" && screen === "session") reconcile();
    });
  }

  function setScanner(connected) {
    ui.scannerOff.hidden = cfg.scannerType !== "serial" || connected;
    document.body.dataset.scanner = connected ? "connected" : "disconnected";
  }

  function linkDown() {
    document.body.dataset.link = "down";
    if (linkTimer === null) {
      // A quick reconnect should not flash a warning at the student.
      linkTimer = setTimeout(() => {
        ui.linkOff.hidden = false;
      }, cfg.linkGraceMs);
    }
  }

  function linkUp() {
    document.body.dataset.link = "up";
    clearTimeout(linkTimer);
    linkTimer = null;
    ui.linkOff.hidden = true;
  }

  // --- language ----------------------------------------------------------------------------

  function setLanguage(next) {
    lang = next;
    const other = next === "zh" ? "en" : "zh";
    ui.root.lang = cfg.langTags[next];
    for (const node of document.querySelectorAll("[data-t]")) {
      node.textContent = t(node.dataset.t);
    }
    ui.langToggle.textContent = cfg.langNames[other];
    ui.langToggle.lang = cfg.langTags[other];
    document.title = t("page_title");
    document.dispatchEvent(new CustomEvent("kiosk:language", { detail: { lang: next } }));
    renderToday();
    render();
    relocalise();
    connectEvents();
  }

  // The server's sentences on screen were written in the old language: ask for them again.
  function relocalise() {
    const replies = [];
    if (student) replies.push(...student.lines);
    replies.push(...returnLines);
    if (banner && banner.reply) replies.push(banner.reply);
    if (replies.length === 0) return;
    const asked = lang;
    const minimal = replies.map((r) => ({
      action: r.action,
      reason: r.reason,
      destination: r.destination,
      title: r.title,
      due_date: r.due_date,
      renewable_on: r.renewable_on,
      patron: r.patron ? { first_name: r.patron.first_name } : null,
    }));
    call("POST", cfg.urls.messages, { lang: asked, replies: minimal }).then((answer) => {
      if (lang !== asked) return;
      answer.messages.forEach((message, i) => {
        replies[i].message = message;
      });
      render();
    }, () => {});
  }

  // --- keyboard-wedge scanners -------------------------------------------------------------
  // A wedge scanner "types" a whole code in a few milliseconds and presses Enter. Keys are
  // caught wherever focus is; only a fast burst ending in Enter counts as a scan, so a
  // student hitting keys by hand does nothing.

  const wedge = { buffer: "", last: -Infinity };

  function onKeyDown(event) {
    if (event.ctrlKey || event.altKey || event.metaKey) return;
    if (event.key.length > 1 && event.key !== "Enter") return; // Shift and friends
    const gap = event.timeStamp - wedge.last;
    wedge.last = event.timeStamp;
    event.preventDefault();
    if (event.key === "Enter") {
      const code = wedge.buffer;
      wedge.buffer = "";
      if (gap <= cfg.wedge.maxGapMs && code.length >= cfg.wedge.minLength) submitCode(code, false);
      return;
    }
    if (event.repeat) return;
    if (gap > cfg.wedge.maxGapMs) wedge.buffer = "";
    wedge.buffer += event.key;
  }

  // --- on-screen keypad --------------------------------------------------------------------

  function openKeypad() {
    keypadBuffer = "";
    renderKeypad();
    setKeypadMode("digits");
    ui.keypad.hidden = false;
  }

  function closeKeypad() {
    keypadBuffer = "";
    renderKeypad();
    ui.keypad.hidden = true;
  }

  function renderKeypad() {
    ui.keypadDisplay.textContent = keypadBuffer;
  }

  function setKeypadMode(mode) {
    ui.keysDigits.hidden = mode !== "digits";
    ui.keysLetters.hidden = mode !== "letters";
  }

  function keypadPress(key) {
    if (keypadBuffer.length < cfg.keypadMaxChars) keypadBuffer += key;
    renderKeypad();
  }

  // --- sounds ------------------------------------------------------------------------------
  // Made on the spot with Web Audio: no sound files, nothing fetched from the network.

  function playSound(kind) {
    soundCount += 1;
    document.body.dataset.sound = kind + ":" + soundCount;
    try {
      audio = audio || new AudioContext();
      if (audio.state === "suspended") audio.resume();
      const notes = {
        ok: [[880, 0, 0.09, "sine"], [1320, 0.1, 0.14, "sine"]],
        ask: [[660, 0, 0.16, "sine"]],
        info: [[660, 0, 0.12, "sine"]],
        refused: [[196, 0, 0.2, "square"], [165, 0.24, 0.26, "square"]],
      }[kind] || [];
      const start = audio.currentTime + 0.01;
      for (const [frequency, at, length, type] of notes) {
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        osc.type = type;
        osc.frequency.value = frequency;
        gain.gain.setValueAtTime(0.0001, start + at);
        gain.gain.exponentialRampToValueAtTime(0.25, start + at + 0.015);
        gain.gain.exponentialRampToValueAtTime(0.0001, start + at + length);
        osc.connect(gain).connect(audio.destination);
        osc.start(start + at);
        osc.stop(start + at + length + 0.02);
      }
    } catch (error) {
      // No audio device: the screen still says everything.
    }
  }

  // --- wiring ------------------------------------------------------------------------------

  function onClick(id, handler) {
    $(id).addEventListener("click", handler);
  }

  document.addEventListener("keydown", onKeyDown, true);
  // Scroll events do not bubble: listen in the capture phase for every scrolling list.
  document.addEventListener("scroll", markScrolling, true);
  window.addEventListener("resize", markScrolling);
  onClick("lang-toggle", () => setLanguage(lang === "zh" ? "en" : "zh"));
  onClick("session-done", finishSession);
  onClick("done-ok", () => toIdle(true));
  onClick("returns-done", () => toIdle(true));
  onClick("still-here-yes", stillHere);
  onClick("keypad-open", openKeypad);
  onClick("keypad-close", closeKeypad);
  onClick("keypad-clear", () => {
    keypadBuffer = "";
    renderKeypad();
  });
  onClick("keypad-delete", () => {
    keypadBuffer = keypadBuffer.slice(0, -1);
    renderKeypad();
  });
  onClick("keypad-ok", () => submitCode(keypadBuffer, true));
  onClick("keypad-letters", () => setKeypadMode("letters"));
  onClick("keypad-digits", () => setKeypadMode("digits"));
  for (const key of document.querySelectorAll(".key[data-key]")) {
    key.addEventListener("click", () => keypadPress(key.dataset.key));
  }

  // The librarian's way to the staff page: hold the library's name for a few seconds.
  let holdTimer = null;
  const cancelHold = () => clearTimeout(holdTimer);
  ui.libraryName.addEventListener("pointerdown", () => {
    cancelHold();
    holdTimer = setTimeout(() => {
      if (screen === "idle") location.assign(cfg.urls.staff);
    }, cfg.staffHoldMs);
  });
  for (const type of ["pointerup", "pointerleave", "pointercancel"]) {
    ui.libraryName.addEventListener(type, cancelHold);
  }
  // Nothing on a kiosk needs a context menu, and a long press would open one.
  document.addEventListener("contextmenu", (event) => event.preventDefault());

  setScanner(cfg.scannerConnected);
  setLanguage(lang);
  setInterval(tick, 200);
  setInterval(renderToday, 30000);
  document.body.dataset.ready = "1";
}

function startPinPad(pad) {
  const input = document.getElementById(pad.dataset.target);
  for (const key of pad.querySelectorAll("[data-key]")) {
    key.addEventListener("click", () => {
      input.value += key.dataset.key;
    });
  }
  const back = pad.querySelector("[data-delete]");
  if (back) back.addEventListener("click", () => {
    input.value = input.value.slice(0, -1);
  });
}
