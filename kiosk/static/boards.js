/* The idle screen's boards (新书通报, 好书借阅排行榜, 书香班级): fetched from /api/boards, one at a
 * time, the next sliding in slowly. Titles and classes only: nothing about a student. Off when
 * [kiosk] idle_boards = false (the API then says enabled: false and the space stays empty). */
"use strict";

(function () {
  const box = document.getElementById("boards");
  if (!box) return;
  let data = null;
  let index = 0;
  let rotateTimer = null;

  const lang = () => (document.documentElement.lang || "zh").startsWith("zh") ? "zh" : "en";
  const format = (text, values) => text.replace(/\{(\w+)\}/g, (_, k) => (k in values ? values[k] : ""));

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Only boards with something on them take a turn.
  function boards() {
    const doc = data && data.boards;
    if (!doc) return [];
    return ["new_books", "popular", "classes"].filter((k) => doc[k] && doc[k].rows && doc[k].rows.length);
  }

  function render() {
    const kinds = boards();
    box.replaceChildren();
    if (!kinds.length) {
      box.hidden = true;
      return;
    }
    const kind = kinds[index % kinds.length];
    const board = data.boards[kind];
    const words = data.words[lang()];
    const card = el("section", "board board-" + kind);
    const head = el("header", "board-head");
    head.append(el("h2", "board-title", words[kind]));
    const note = kind === "new_books" ? words.new_books_note : board["period_" + lang()];
    head.append(el("p", "board-period", note || ""));
    card.append(head);
    const list = el("ol", "board-rows");
    for (const row of board.rows) {
      const item = el("li", "board-row");
      if (kind === "classes") {
        item.append(el("span", "board-rank", String(row.rank)));
        item.append(el("span", "board-name", row["class_" + lang()]));
        item.append(el("span", "board-figure", format(words.per_student, { n: row.loans_per_student })));
      } else if (kind === "popular") {
        item.append(el("span", "board-rank", String(row.rank)));
        item.append(el("span", "board-name", "《" + row.title + "》"));
        item.append(el("span", "board-figure", row.author || ""));
      } else {
        item.append(el("span", "board-name", "《" + row.title + "》"));
        item.append(el("span", "board-figure", row.call_number || ""));
      }
      list.append(item);
    }
    card.append(list);
    const dots = el("p", "board-dots");
    dots.setAttribute("aria-hidden", "true");
    kinds.forEach((_, i) => dots.append(el("span", i === index % kinds.length ? "dot on" : "dot")));
    card.append(dots);
    box.append(card);
    box.hidden = false;
  }

  function rotate() {
    index += 1;
    render();
  }

  function load() {
    fetch("/api/boards", { headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : null))
      .then((reply) => {
        if (!reply || !reply.enabled) {
          data = null;
          box.hidden = true;
          return;
        }
        data = reply;
        render();
        clearInterval(rotateTimer);
        rotateTimer = setInterval(rotate, (reply.rotate_s || 15) * 1000);
        setTimeout(load, (reply.refresh_s || 600) * 1000);
      })
      // The kiosk works without its boards; try again later.
      .catch(() => setTimeout(load, 60 * 1000));
  }

  document.addEventListener("kiosk:language", render);
  load();
})();
