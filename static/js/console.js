// The proctor's live grid: polls the server every 3 seconds; every control is a call to the proctor API.
(function () {
  "use strict";
  var root = document.getElementById("console");
  if (!root) { return; }
  var T = JSON.parse(root.dataset.i18n);
  var API = root.dataset.api;
  var live = document.getElementById("console-live");
  var body = document.querySelector("#grid tbody");
  var picker = document.getElementById("irr-attempt");
  var known = {};

  function call(method, url, payload) {
    return fetch(url, {method: method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": root.dataset.csrf},
      body: payload === undefined ? undefined : JSON.stringify(payload)
    }).then(function (r) { return r.json().catch(function () { return {}; }).then(function (d) { return {status: r.status, data: d}; }); });
  }

  function clock(seconds) {
    if (seconds === null || seconds === undefined) { return "—"; }
    var s = Math.round(seconds), m = Math.floor(s / 60);
    return m + ":" + ("0" + (s % 60)).slice(-2);
  }

  function button(label, action, row) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.setAttribute("aria-label", label + " " + row.candidate_code);
    b.addEventListener("click", function () { act(action, row); });
    return b;
  }

  function act(action, row) {
    var payload = {};
    if (action === "extend") {
      var minutes = window.prompt(T.minutes, "5");
      if (!minutes) { return; }
      var reason = window.prompt(T.reason, "");
      if (!reason) { return; }
      payload = {seconds: Math.round(parseFloat(minutes) * 60), reason: reason};
    } else if (action === "terminate" || action === "pause" || action === "release") {
      var why = window.prompt(T.reason, "");
      if (why === null || (action === "terminate" && !why)) { return; }
      payload = {reason: why};
    } else if (action === "resume") {
      payload = {reason: null};
    }
    call("POST", API + "/attempts/" + row.attempt + "/" + action, action === "admit" ? undefined : payload)
      .then(function (res) {
        live.textContent = res.status === 200 ? row.candidate_code + ": " + T[res.data.state] : T.failed + ": " + (res.data.message || res.status);
        poll();
      });
  }

  function cell(text, cls) { var td = document.createElement("td"); td.textContent = text; if (cls) { td.className = cls; } return td; }

  function draw(data) {
    body.innerHTML = "";
    data.rows.forEach(function (row) {
      var tr = document.createElement("tr");
      tr.id = "row-" + row.candidate_code;
      tr.dataset.state = row.state;
      var who = document.createElement("th");
      who.scope = "row";
      who.textContent = row.candidate_code + " · " + row.name + (row.extra_time_factor > 1 ? " (×" + row.extra_time_factor + ")" : "");
      tr.appendChild(who);
      tr.appendChild(cell(T[row.state] || row.state, "state"));
      tr.appendChild(cell(row.section + " / " + row.sections));
      tr.appendChild(cell(row.answered + " / " + row.items, "num"));
      tr.appendChild(cell(clock(row.remaining_seconds), "num remaining"));
      tr.appendChild(cell(row.last_seen_seconds === null ? T.never : (row.online ? T.online : T.offline) + " (" + Math.round(row.last_seen_seconds) + " " + T.seconds_ago + ")"));
      tr.appendChild(cell(String(row.irregularities), "num"));
      tr.appendChild(cell(String(row.signals), "num"));
      var actions = document.createElement("td");
      actions.className = "row-actions";
      if (row.state === "scheduled") { actions.appendChild(button(T.admit, "admit", row)); }
      if (row.state === "in_progress") { actions.appendChild(button(T.pause, "pause", row)); }
      if (row.state === "paused") { actions.appendChild(button(T.resume, "resume", row)); }
      if (row.state === "in_progress" || row.state === "paused") {
        actions.appendChild(button(T.extend, "extend", row));
        actions.appendChild(button(T.release, "release", row));
      }
      if (row.state !== "submitted" && row.state !== "terminated") { actions.appendChild(button(T.terminate, "terminate", row)); }
      tr.appendChild(actions);
      body.appendChild(tr);
      if (!known[row.attempt]) {
        known[row.attempt] = true;
        var opt = document.createElement("option");
        opt.value = row.attempt;
        opt.textContent = row.candidate_code + " · " + row.name;
        picker.appendChild(opt);
      }
    });
    document.getElementById("grid-updated").textContent = T.updated + " " + new Date().toLocaleTimeString();
  }

  function poll() { return call("GET", root.dataset.grid).then(function (res) { if (res.status === 200) { draw(res.data); } }); }

  document.getElementById("irregularity-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    call("POST", API + "/sessions/" + root.dataset.session + "/irregularities", {
      attempt: form.attempt.value ? parseInt(form.attempt.value, 10) : null,
      category: form.category.value, note: form.note.value || null
    }).then(function (res) { live.textContent = res.status === 201 ? T.updated : T.failed; form.note.value = ""; poll(); });
  });

  poll();
  setInterval(poll, 3000);
}());
