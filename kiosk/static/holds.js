/* Shuxiang kiosk: the signed-in student's holds, each with a Cancel button.
 *
 * kiosk.js owns the page's state and calls ShuxiangHolds.item() for each hold in the
 * signed-in reply (`patron.holds`); a tap on Cancel goes back to kiosk.js through `cancel`,
 * which sends DELETE /api/holds/ID and draws the reply like any other.
 */
"use strict";

window.ShuxiangHolds = {
  /* One hold as a list item. `h` carries kiosk.js's helpers: t (a UI string), formatDate,
   * make (an element) and cancel (the hold's id). */
  item(hold, h) {
    const ready = hold.status === "ready";
    const li = h.make("li", "hold hold-" + hold.status);
    li.dataset.holdId = String(hold.id);
    const text = h.make("div", "hold-text");
    text.append(h.make("span", "hold-title", hold.title));
    text.append(
      h.make(
        "span",
        "hold-when",
        ready ? h.t("hold_kept_until", { date: h.formatDate(hold.kept_until) }) : h.t("hold_waiting"),
      ),
    );
    const button = h.make("button", "btn btn-hold-cancel", h.t("hold_cancel"));
    button.type = "button";
    button.addEventListener("click", () => {
      button.disabled = true;
      h.cancel(hold.id);
    });
    li.append(text, button);
    return li;
  },
};
