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
