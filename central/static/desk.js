// The desk: a keyboard-wedge scanner types into whatever has focus, so the scan field keeps it.
"use strict";
(function () {
  var field = document.getElementById("desk-code");
  if (!field) {
    return;
  }
  var typing = function (el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT");
  };
  field.focus();
  field.select();
  // A scan that starts while a button has focus (after a click) still lands in the field.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      var done = document.getElementById("desk-done");
      if (done) {
        window.location.href = done.href;
      }
      return;
    }
    if (typing(document.activeElement) || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (event.key.length === 1) {
      field.focus();
    }
  });
  // Clicking empty space gives the focus back; clicking a field or a button keeps it there.
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!typing(target) && !target.closest("a, button, label")) {
      field.focus();
    }
  });
  // One scan at a time: a second Enter while the page loads would send the same code twice.
  var form = document.getElementById("desk-scan");
  form.addEventListener("submit", function (event) {
    if (form.dataset.sent) {
      event.preventDefault();
      return;
    }
    form.dataset.sent = "1";
  });
})();
