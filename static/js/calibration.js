// Live progress of a calibration run: polls the server once a second and reloads when the run ends.
(function () {
  "use strict";
  var box = document.getElementById("run-status");
  if (!box || box.dataset.finished === "true") { return; }
  var url = box.dataset.progressUrl;
  function text(id, value) { var el = document.getElementById(id); if (el) { el.textContent = value; } }
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var p = data.progress || {};
        text("run-state", data.status);
        if (p.iteration !== undefined) { text("run-iteration", p.iteration); }
        if (p.log_likelihood !== undefined) { text("run-loglik", p.log_likelihood.toFixed(2)); }
        if (p.max_change !== undefined) { text("run-change", p.max_change.toExponential(2)); }
        if (p.phase_total !== undefined) { text("run-phase", p.phase_done + " / " + p.phase_total); }
        if (data.finished) {
          text("run-live", data.status);
          window.location.reload();
        } else {
          setTimeout(poll, 1000);
        }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 500);
}());

// Bulk decisions on the review table: "select all flagged / unflagged" tick the rows' checkboxes.
(function () {
  "use strict";
  var form = document.getElementById("bulk-decisions");
  if (!form) { return; }
  var boxes = Array.prototype.slice.call(document.querySelectorAll('input[name="items"][form="bulk-decisions"]'));
  var count = document.getElementById("bulk-count");
  function update() {
    var n = boxes.filter(function (b) { return b.checked; }).length;
    count.textContent = n + " / " + boxes.length;
  }
  form.querySelector(".bulk-select").hidden = false;
  form.querySelectorAll("button[data-select]").forEach(function (button) {
    button.addEventListener("click", function () {
      var which = button.dataset.select;
      boxes.forEach(function (box) {
        var flagged = box.closest("tr").dataset.flagged === "true";
        box.checked = which === "flagged" ? flagged : which === "unflagged" ? !flagged : false;
      });
      update();
    });
  });
  boxes.forEach(function (box) { box.addEventListener("change", update); });
  update();
}());
