// The candidate's sitting. Everything goes through the documented JSON API (/api/v1/sitting).
//
// Durability: every change becomes a save with a sequence number and an idempotency key. Saves wait in a
// queue kept in localStorage until the server acknowledges them, so a reload, a crash or a dropped network
// loses nothing that was not yet acknowledged; retries reuse the same key and cannot duplicate anything.
// Time: the server is the clock. The countdown shown here is display only and re-syncs every 5 seconds with
// the heartbeat's small pulse; the whole view is read again only when the pulse says it changed.
(function () {
  "use strict";
  var root = document.getElementById("sitting");
  if (!root) { return; }
  var API = root.dataset.api;
  var CSRF = root.dataset.csrf;
  var T = JSON.parse(root.dataset.i18n);
  var live = document.getElementById("sitting-live");

  var TOKEN_KEY = "tandau.sitting.token";
  var token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) {
    token = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + String(Math.random()).slice(2);
    sessionStorage.setItem(TOKEN_KEY, token);
  }

  var view = null;          // last state from the server
  var renderedKey = null;   // which section/state is on screen
  var queueKey = null;      // localStorage key of this sitting's unsent saves
  var seq = 0;
  var deadlineAt = null;    // performance.now() at which the section's time runs out
  var warned = {};
  var sending = false;
  var failures = 0;
  var retryTimer = null;
  var drafts = {};          // incomplete multi-part answers, per item
  var advanced = false;     // the last section change came from Next in an adaptive section, not the clock

  function announce(text) { live.textContent = ""; setTimeout(function () { live.textContent = text; }, 50); }

  function call(method, path, body) {
    return fetch(API + path, {
      method: method,
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": CSRF,
                "X-Sitting-Token": token},
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.text().then(function (text) {
        var data = {};
        try { data = text ? JSON.parse(text) : {}; } catch (e) { data = {}; }
        return {status: r.status, data: data};
      });
    });
  }

  // ---- the queue of unsent saves ------------------------------------------------------------------------
  function loadQueue() { try { return JSON.parse(localStorage.getItem(queueKey) || "[]"); } catch (e) { return []; } }
  function storeQueue(q) { localStorage.setItem(queueKey, JSON.stringify(q)); }

  function enqueue(item, response, flagged) {
    seq = Math.max(seq + 1, loadQueue().reduce(function (m, e) { return Math.max(m, e.seq + 1); }, 0));
    var entry = {item: item, response: response, flagged: flagged, seq: seq,
                 key: token.slice(0, 20) + "-" + seq + "-" + Math.random().toString(36).slice(2, 10)};
    // a newer answer replaces an unsent older answer, a newer flag an older flag; but a flag must never
    // replace an answer that is still waiting to be sent (that answer would be lost)
    var kind = flagged === null ? "answer" : "flag";
    var q = loadQueue().filter(function (e) {
      return e.item !== item || e.sending || (e.flagged === null ? "answer" : "flag") !== kind;
    });
    q.push(entry);
    storeQueue(q);
    setItemStatus(item, "saving");
    flush();
  }

  // what the server now holds, so that the page agrees with it without reloading
  function remember(entry) {
    (view && view.items || []).forEach(function (item) {
      if (item.code !== entry.item) { return; }
      if (entry.response !== null || entry.flagged === null) { item.answer = entry.response; }
      if (entry.flagged !== null) { item.flagged = entry.flagged; }
      item.seq = entry.seq;
    });
  }

  function pendingFor(item) { return loadQueue().filter(function (e) { return e.item === item; }); }

  function flush() {
    if (sending) { return; }
    var q = loadQueue();
    if (!q.length) { setGlobalStatus("saved"); return; }
    sending = true;
    setGlobalStatus("saving");
    var entry = q[0];
    call("POST", "/answers", {item: entry.item, response: entry.response, flagged: entry.flagged,
                              seq: entry.seq, key: entry.key})
      .then(function (res) {
        sending = false;
        if (res.status === 200 || res.status === 422) {
          // acknowledged (200), or refused as invalid (422): either way it leaves the queue
          storeQueue(loadQueue().filter(function (e) { return e.key !== entry.key; }));
          if (res.status === 200 && res.data.applied) { remember(entry); }
          failures = 0;
          if (!pendingFor(entry.item).length) { setItemStatus(entry.item, res.status === 200 ? "saved" : "unsaved"); }
          flush();
        } else if (res.status === 409) {
          // time up, paused, or another window: the server's view decides what happens next
          storeQueue(loadQueue().filter(function (e) { return e.key !== entry.key; }));
          refresh(true);
        } else {
          retryLater();
        }
      })
      .catch(function () { sending = false; retryLater(); });
  }

  function retryLater() {
    failures += 1;
    setGlobalStatus(navigator.onLine === false ? "offline" : "unsaved");
    loadQueue().forEach(function (e) { setItemStatus(e.item, "unsaved"); });
    clearTimeout(retryTimer);
    retryTimer = setTimeout(flush, Math.min(15000, 1000 * Math.pow(2, Math.min(failures, 4))));
  }

  // ---- status indicators --------------------------------------------------------------------------------
  function setGlobalStatus(kind) {
    var el = document.getElementById("save-status");
    if (!el) { return; }
    el.className = "save-status save-" + kind;
    el.textContent = T[kind];
  }

  function setItemStatus(item, kind) {
    var el = document.getElementById("status-" + item);
    if (el) { el.className = "item-status save-" + kind; el.textContent = T[kind]; }
    updateNav();
  }

  // ---- clock --------------------------------------------------------------------------------------------
  function syncClock(remaining) {
    if (remaining === null || remaining === undefined) { deadlineAt = null; return; }
    deadlineAt = performance.now() + remaining * 1000;
  }

  function tick() {
    var el = document.getElementById("timer");
    if (!el || deadlineAt === null || !view || view.state !== "in_progress") { return; }
    var left = Math.max(0, Math.round((deadlineAt - performance.now()) / 1000));
    var m = Math.floor(left / 60), s = left % 60;
    el.textContent = (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
    var key = view.current_section;
    if (left <= 300 && left > 60 && !warned[key + "-5"]) { warned[key + "-5"] = true; announce(T.five); el.classList.add("warning"); }
    if (left <= 60 && !warned[key + "-1"]) { warned[key + "-1"] = true; announce(T.one); el.classList.add("urgent"); }
    if (left === 0 && !warned[key + "-0"]) {
      warned[key + "-0"] = true;
      // the server closes the section after its grace; ask it what happened
      setTimeout(function () { refresh(); }, (view.grace_seconds + 1) * 1000);
    }
  }

  // ---- rendering ----------------------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }

  function message(text, extra) {
    root.innerHTML = "";
    root.appendChild(el("section", {"class": "card"}, [el("p", {"text": text})].concat(extra || [])));
    // said through the live region that stays in the page: a status element that is itself new is often not read
    announce(text);
  }

  function effectiveAnswer(item) {
    var pending = pendingFor(item.code);
    var answer = item.answer, flagged = item.flagged;
    pending.forEach(function (e) {
      if (e.response !== null || e.flagged === null) { answer = e.response; }
      if (e.flagged !== null) { flagged = e.flagged; }
    });
    return {answer: answer, flagged: flagged};
  }

  function radio(name, value, label, checked, onChange, lang) {
    var id = name + "-" + value;
    var input = el("input", {type: "radio", name: name, id: id, value: String(value)});
    input.checked = checked;
    input.addEventListener("change", onChange);
    var text = el("label", {"for": id, "text": label});
    if (lang) { text.setAttribute("lang", lang); }
    return el("div", {"class": "choice"}, [input, text]);
  }

  function renderItem(item, index, allowReview) {
    var current = effectiveAnswer(item);
    var answer = current.answer || {};
    // the item is in the language of the candidate's registration, the page's own words in theirs (WCAG 3.1.2)
    var lang = view.language || document.documentElement.lang;
    var box = el("section", {"class": "item", id: "item-" + item.code, "aria-labelledby": "stem-" + item.code});
    box.appendChild(el("h2", {"class": "item-number", "text": T.question + " " + (index + 1)}));
    if (item.stimulus) {
      box.appendChild(el("div", {"class": "stimulus", lang: lang}, [
        item.stimulus.title ? el("h3", {"text": item.stimulus.title}) : null,
        el("p", {"class": "pre", "text": item.stimulus.text})]));
    }
    box.appendChild(el("p", {"class": "stem pre", id: "stem-" + item.code, lang: lang, "text": item.stem}));
    var letters = "ABCDEF";
    if (item.format === "single_best") {
      var group = el("fieldset", {"class": "options"}, [el("legend", {"class": "visually-hidden", lang: lang, "text": item.stem})]);
      item.options.forEach(function (text, i) {
        group.appendChild(radio("q-" + item.code, i, letters[i] + ". " + text, answer.choice === i, function () {
          enqueue(item.code, {choice: i}, null);
        }, lang));
      });
      box.appendChild(group);
    } else if (item.format === "sjt_most_least") {
      var draft = drafts[item.code] = {most: answer.most, least: answer.least};
      ["most", "least"].forEach(function (part) {
        var fs = el("fieldset", {"class": "options"}, [el("legend", {"text": T[part]})]);
        item.options.forEach(function (text, i) {
          fs.appendChild(radio("q-" + item.code + "-" + part, i, letters[i] + ". " + text, draft[part] === i, function () {
            draft[part] = i;
            if (draft.most !== undefined && draft.least !== undefined && draft.most !== draft.least) {
              enqueue(item.code, {most: draft.most, least: draft.least}, null);
            }
          }, lang));
        });
        box.appendChild(fs);
      });
    } else if (item.format === "sjt_rate") {
      var ratings = drafts[item.code] = (answer.ratings || []).slice();
      item.options.forEach(function (text, i) {
        var fs = el("fieldset", {"class": "rating"}, [el("legend", {lang: lang, "text": letters[i] + ". " + text})]);
        [1, 2, 3, 4].forEach(function (r) {
          fs.appendChild(radio("q-" + item.code + "-" + i, r, String(r), ratings[i] === r, function () {
            ratings[i] = r;
            var complete = item.options.every(function (_, k) { return ratings[k] >= 1; });
            if (complete) { enqueue(item.code, {ratings: ratings.slice(0, item.options.length)}, null); }
          }));
        });
        box.appendChild(fs);
      });
    } else if (item.format === "sjt_rank") {
      var rank = drafts[item.code] = (answer.rank || []).slice();
      var list = el("div", {"class": "ranking"});
      item.options.forEach(function (text, i) {
        var id = "rank-" + item.code + "-" + i;
        var select = el("select", {id: id});
        select.appendChild(el("option", {value: "", text: "—"}));
        item.options.forEach(function (_, r) {
          var opt = el("option", {value: String(r + 1), text: String(r + 1)});
          if (rank[i] === r + 1) { opt.selected = true; }
          select.appendChild(opt);
        });
        select.addEventListener("change", function () {
          rank[i] = select.value ? parseInt(select.value, 10) : undefined;
          var chosen = item.options.map(function (_, k) { return rank[k]; });
          var distinct = chosen.filter(function (v, k) { return v && chosen.indexOf(v) === k; });
          if (distinct.length === item.options.length) { enqueue(item.code, {rank: chosen}, null); }
        });
        list.appendChild(el("div", {"class": "rank-row"}, [el("label", {"for": id, lang: lang, "text": letters[i] + ". " + text}), select]));
      });
      box.appendChild(el("fieldset", {"class": "options"}, [el("legend", {"text": T.rank}), list]));
    }
    var tools = el("div", {"class": "item-tools"});
    if (allowReview) {
      var flagId = "flag-" + item.code;
      var flag = el("input", {type: "checkbox", id: flagId});
      flag.checked = !!current.flagged;
      flag.addEventListener("change", function () { enqueue(item.code, null, flag.checked); });
      tools.appendChild(el("span", {"class": "flag-box"}, [flag, el("label", {"for": flagId, "text": T.flag})]));
    }
    var state = pendingFor(item.code).length ? "saving" : (current.answer ? "saved" : "not_answered");
    tools.appendChild(el("span", {"class": "item-status save-" + state, id: "status-" + item.code, "text": T[state]}));
    box.appendChild(tools);
    return box;
  }

  function updateNav() {
    var nav = document.getElementById("item-nav");
    if (!nav || !view) { return; }
    view.items.forEach(function (item) {
      var link = document.getElementById("nav-" + item.code);
      if (!link) { return; }
      var current = effectiveAnswer(item);
      var parts = [current.answer ? T.answered : T.not_answered];
      if (current.flagged) { parts.push(T.flagged); }
      link.setAttribute("data-state", current.answer ? "answered" : "empty");
      link.setAttribute("data-flagged", current.flagged ? "true" : "false");
      link.querySelector(".nav-state").textContent = parts.join(", ");
    });
  }

  function renderHeader(section) {
    root.innerHTML = "";
    root.appendChild(el("div", {"class": "sitting-header card"}, [
      el("h1", {id: "section-heading", tabindex: "-1", "text": T.section + " " + (section.position + 1) + ": " + section.title}),
      el("p", {"class": "timer-box"}, [el("span", {"text": T.remaining + ": "}),
        el("strong", {id: "timer", role: "timer", "aria-live": "off"})]),
      el("p", {id: "save-status", "class": "save-status", "aria-live": "polite"})
    ]));
  }

  // An adaptive section shows one question at a time. Next waits until the answer is acknowledged, then asks
  // the server to commit it and choose the next question; a retried Next gets the same question back.
  function renderAdaptive(section) {
    renderHeader(section);
    var item = view.items[0];
    if (!item) { return; }
    var box = renderItem(item, view.question_number - 1, false);
    var heading = box.querySelector(".item-number");
    heading.textContent = T.question + " " + view.question_number + " (" + T.adaptive + ")";
    heading.setAttribute("tabindex", "-1");
    var next = el("button", {type: "button", "class": "primary", id: "next-question", "text": T.next});
    next.addEventListener("click", function () { goNext(section, item, next); });
    box.appendChild(el("p", {}, [next]));
    root.appendChild(el("div", {"class": "items"}, [box]));
    setGlobalStatus(loadQueue().length ? "saving" : "saved");
    heading.focus();
  }

  function goNext(section, item, button) {
    button.disabled = true;
    if (sending || pendingFor(item.code).length) {  // the queue is sending it: try again in a moment
      setTimeout(function () { goNext(section, item, button); }, 300);
      return;
    }
    advanced = true;
    call("POST", "/sections/" + section.position + "/next", {item: item.code}).then(function (res) {
      button.disabled = false;
      if (res.status === 200) { apply(res); return; }
      advanced = false;
      if (res.status === 409) { refresh(true); }
    }).catch(function () { button.disabled = false; advanced = false; });
  }

  function renderSection() {
    var section = view.sections[view.current_section];
    if (section.adaptive) { renderAdaptive(section); return; }
    renderHeader(section);
    var layout = el("div", {"class": "sitting-layout"});
    var nav = el("nav", {id: "item-nav", "class": "item-nav card", "aria-label": T.review}, [el("h2", {"text": T.review})]);
    var list = el("ol");
    view.items.forEach(function (item, i) {
      var a = el("a", {href: "#item-" + item.code, id: "nav-" + item.code},
                 [el("span", {"text": T.question + " " + (i + 1)}), el("span", {"class": "nav-state"})]);
      list.appendChild(el("li", {}, [a]));
    });
    nav.appendChild(list);
    var finish = el("button", {type: "button", "class": "primary", id: "finish-section", "text": T.finish});
    finish.addEventListener("click", function () {
      if (!window.confirm(T.confirm)) { return; }
      call("POST", "/sections/" + section.position + "/finish").then(function (res) { apply(res); });
    });
    nav.appendChild(finish);
    var items = el("div", {"class": "items"});
    view.items.forEach(function (item, i) { items.appendChild(renderItem(item, i, section.allow_review)); });
    layout.appendChild(items);
    layout.appendChild(nav);
    root.appendChild(layout);
    updateNav();
    setGlobalStatus(loadQueue().length ? "saving" : "saved");
    // a new section replaced what had the focus: start keyboard and screen-reader users at its heading
    document.getElementById("section-heading").focus();
  }

  function render() {
    document.body.classList.toggle("large-text", !!view.large_text);
    var key = view.state + ":" + view.current_section + ":" + (view.question_number || "");
    if (key === renderedKey && view.state === "in_progress") { return; }
    renderedKey = key;
    if (view.state === "scheduled") { message(T.waiting); }
    else if (view.state === "admitted") {
      var button = el("button", {type: "button", "class": "primary", id: "start-exam", "text": T.start});
      button.addEventListener("click", function () { call("POST", "/start").then(apply); });
      message(T.admitted, [view.instructions ? el("p", {"class": "pre", "text": view.instructions}) : null, button]);
      button.focus();
    }
    else if (view.state === "paused") { message(T.paused); }
    else if (view.state === "submitted") { message(T.finished); }
    else if (view.state === "terminated") { message(T.terminated); }
    else if (view.state === "in_progress") { renderSection(); document.getElementById("timer") && tick(); }
  }

  function apply(res) {
    if (res.status === 409 && /another/.test((res.data || {}).message || "")) { message(T.other_tab); return; }
    if (res.status !== 200) { return; }
    var previous = view;
    view = res.data;
    queueKey = "tandau.queue." + view.candidate_code;
    var highest = 0;
    (view.items || []).forEach(function (i) { highest = Math.max(highest, i.seq || 0); });
    seq = Math.max(seq, highest);
    syncClock(view.remaining_seconds);
    if (previous && previous.current_section !== view.current_section && view.state === "in_progress") {
      announce(advanced ? T.adaptive_done : T.time_up);
    }
    advanced = false;
    render();
    flush();
  }

  // The heartbeat keeps this tab's hold and re-syncs the clock with a small pulse; the whole view (items,
  // sections) is read again only when the pulse's view_version differs from the view on screen (a pause,
  // extra time, the next section, the end...), when asked to (a refused save or Next), or after the page
  // lost contact with the server, whose state may have moved on meanwhile.
  var lostContact = false;

  function fetchView() {
    return call("GET", "").then(function (res) {
      if (res.status === 200) { lostContact = false; }
      apply(res);
    });
  }

  function refresh(full) {
    return call("POST", "/heartbeat").then(function (res) {
      if (res.status !== 200) {
        if (res.status === 0 || res.status >= 500) { lostContact = true; }
        apply(res);  // 409: another window holds the sitting
        return;
      }
      var pulse = res.data;
      if (full || lostContact || !view || pulse.view_version !== view.view_version) { return fetchView(); }
      view.remaining_seconds = pulse.remaining_seconds;
      syncClock(pulse.remaining_seconds);
    }).catch(function () { lostContact = true; });
  }

  // ---- browser signals (shown to proctors as signals, not verdicts) -------------------------------------
  function signal(name) {
    if (!view || view.state !== "in_progress") { return; }
    call("POST", "/signals", {signal: name, detail: null}).catch(function () {});
  }
  document.addEventListener("visibilitychange", function () { if (document.hidden) { signal("focus_lost"); } });
  document.addEventListener("copy", function () { signal("copy_attempted"); });
  document.addEventListener("paste", function () { signal("paste_attempted"); });
  document.addEventListener("fullscreenchange", function () { if (!document.fullscreenElement) { signal("fullscreen_left"); } });
  window.addEventListener("online", function () { failures = 0; lostContact = true; flush(); });
  window.addEventListener("offline", function () { setGlobalStatus("offline"); });

  call("POST", "/check-in", {client_token: token}).then(function (res) {
    document.getElementById("sitting-loading") && document.getElementById("sitting-loading").remove();
    apply(res);
    setInterval(tick, 1000);
    setInterval(function () {
      // waiting rooms poll faster; a running sitting re-syncs its clock and keeps its hold
      if (view && (view.state === "scheduled" || view.state === "admitted" || view.state === "paused")) { refresh(); }
    }, 3000);
    // a running sitting re-syncs every 5 s, so a proctor's pause or extra time shows within seconds
    setInterval(function () { if (view && view.state === "in_progress") { refresh(); } }, 5000);
  });
}());
