// The app's UI: scan, review groups, merge, hand conflicts to Bitrix24, and the merge history.
(function () {
  "use strict";

  var PAGE = 50;
  var CONFIRM_LINES = 10;
  var token = document.querySelector('meta[name="b24app-session"]').content;
  var t = JSON.parse(document.getElementById("b24app-i18n").textContent);
  var context = JSON.parse(document.getElementById("b24app-context").textContent);
  var lang = document.documentElement.lang || "en";
  var $ = function (id) { return document.getElementById(id); };
  var b24 = null;
  var currentJob = null;
  var scan = null;          // {id, total, offset}
  var groupState = {};      // key -> {key, original, ids, dropped, selected, records, result, marked}
  var resultsByKey = {};
  var history = { offset: 0, total: 0 };
  var numbers = new Intl.NumberFormat(lang);
  var plurals = new Intl.PluralRules(lang);
  var HIDDEN_FIELDS = { ID: true, HAS_PHONE: true, HAS_EMAIL: true };

  function num(value) { return numbers.format(value); }

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) {
      var value = values[key];
      if (value === undefined) { return ""; }
      return typeof value === "number" ? num(value) : String(value);
    });
  }

  function records(n) {
    var key = "n_records_" + plurals.select(n);
    return format(t[key] || t.n_records_other, { n: n });
  }

  function errorMessage(error) {
    if (!error) { return ""; }
    return t["error_" + error.code] || format(t.error_bitrix, { message: error.message || error.code });
  }

  function api(method, path, body) {
    return fetch(path, {
      method: method,
      headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (response.status === 401) { throw new Error(t.error_session); }
        if (!response.ok) {
          throw new Error(data.error ? errorMessage(data.error) : ("HTTP " + response.status));
        }
        return data;
      });
    });
  }

  function fit() {
    if (b24) { b24.parent.fitWindow().catch(function () {}); }
  }

  function setStatus(text, kind, id) {
    var node = $(id || "status");
    node.textContent = text || "";
    node.className = "status" + (kind ? " status--" + kind : "");
  }

  function showProgress(done, total, label) {
    $("progress").hidden = false;
    var pct = total ? Math.min(100, Math.round(100 * done / total)) : 0;
    $("progress-fill").style.width = (total ? pct : 5) + "%";
    $("progress-bar").setAttribute("aria-valuenow", String(pct));
    $("progress-text").textContent = label + (total ? " " + format(t.progress_of, { done: done, total: total }) : "");
  }

  function hideProgress() { $("progress").hidden = true; }

  function busy(on) {
    $("scan-button").disabled = on;
    $("merge-button").disabled = on;
    $("cancel-button").hidden = !on;
  }

  function poll(path, onProgress) {
    return new Promise(function (resolve, reject) {
      function tick() {
        api("GET", path).then(function (job) {
          onProgress(job);
          if (job.status === "queued" || job.status === "running") { setTimeout(tick, 600); }
          else { resolve(job); }
        }).catch(reject);
      }
      tick();
    });
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; }
      else if (key === "className") { node.className = attrs[key]; }
      else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) {
      if (child) { node.appendChild(typeof child === "string" ? document.createTextNode(child) : child); }
    });
    return node;
  }

  function button(text, className, onClick, attrs) {
    var node = el("button", Object.assign({ type: "button", className: "btn " + (className || ""), text: text }, attrs || {}));
    node.addEventListener("click", onClick);
    return node;
  }

  function formatDate(value, withTime) {
    if (!value) { return ""; }
    var date = new Date(value);
    if (isNaN(date.getTime())) { return value; }
    return withTime ? date.toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" })
                    : date.toLocaleDateString(lang);
  }

  function member(state, id) {
    return state.original.records.filter(function (r) { return r.id === id; })[0] || { id: id };
  }

  function recordName(state, id) {
    var m = member(state, id);
    return (m.name || m.title || "").trim() || ("#" + id);
  }

  function keptIds(state) {
    return state.ids.filter(function (id) { return !state.dropped[id]; });
  }

  // -- groups ---------------------------------------------------------------------------------

  function stateFor(group) {
    var key = group.entityIds.join(",");
    if (!groupState[key]) {
      groupState[key] = { key: key, original: group, ids: group.entityIds.slice(), dropped: {},
                          selected: true, review: null, marked: false };
    }
    return groupState[key];
  }

  function groupCard(key) { return document.querySelector('.group[data-key="' + key + '"]'); }

  function renderGroup(group, number) {
    var state = stateFor(group);
    var card = el("article", { className: "card group", "data-key": state.key, "data-ids": keptIds(state).join(","),
                               "aria-labelledby": "group-title-" + number });
    state.number = number;
    fillGroup(card, state);
    return card;
  }

  function fillGroup(card, state) {
    var number = state.number;
    card.textContent = "";
    card.dataset.ids = keptIds(state).join(",");
    var locked = state.marked || !!resultsByKey[state.key];
    var checkbox = el("input", { type: "checkbox", className: "group-select", "data-key": state.key,
                                 "aria-label": format(t.select_group, { n: number }) });
    checkbox.checked = state.selected && !locked;
    checkbox.disabled = locked;
    checkbox.addEventListener("change", function () { state.selected = checkbox.checked; syncSelectAll(); });
    var matched = state.original.matchedOn.map(function (m) { return t[m] || m; }).join(", ");
    var rows = state.ids.map(function (id) {
      var m = member(state, id);
      var dropped = !!state.dropped[id];
      var survivor = keptIds(state)[0] === id;
      var radio = el("input", { type: "radio", name: "survivor-" + state.key, className: "survivor-pick",
                                "aria-label": format(t.survivor_label, { id: id, n: number }) });
      radio.checked = survivor;
      radio.disabled = dropped || locked;
      radio.addEventListener("change", function () { makeSurvivor(state, id); });
      var canDrop = dropped || keptIds(state).length > 2;
      var drop = button(dropped ? t.undo : t.drop_record, "btn--link drop", function () { toggleDrop(state, id); },
                        { "aria-label": dropped ? t.undo + " #" + id : format(t.drop_record_label, { id: id, n: number }) });
      drop.disabled = locked || !canDrop;
      return el("tr", { className: (survivor ? "survivor" : "") + (dropped ? " dropped" : ""), "data-id": String(id) }, [
        el("td", {}, [el("label", { className: "keep" }, [radio, " " + t.make_survivor])]),
        el("td", { text: "#" + id }),
        el("td", {}, [m.name || m.title || "", survivor ? el("span", { className: "badge", text: t.survivor }) : null]),
        el("td", { text: (m.phones || []).join(", ") }),
        el("td", { text: (m.emails || []).join(", ") }),
        el("td", { text: formatDate(m.created) }),
        el("td", {}, [drop])
      ]);
    });
    var reviewButton = button(state.review && state.review.open ? t.review_hide : t.review, "btn--light review-toggle",
                              function () { toggleReview(state); },
                              { "aria-expanded": state.review && state.review.open ? "true" : "false",
                                "aria-controls": "review-" + number });
    var notDup = button(state.marked ? t.undo : t.not_duplicates, "btn--light not-duplicates",
                        function () { toggleNotDuplicates(state); });
    notDup.disabled = !!resultsByKey[state.key];
    card.appendChild(el("header", { className: "group__head" }, [
      el("h3", { id: "group-title-" + number, className: "group__title" }, [
        el("label", {}, [checkbox, " " + t.group + " " + num(number)])
      ]),
      el("span", { className: "muted", text: t.matched_on + ": " + matched }),
      state.review && state.review.conflicts && state.review.conflicts.length
        ? el("span", { className: "badge badge--warning", text: t.conflict_badge }) : null,
      el("span", { className: "group__actions" }, [reviewButton, notDup])
    ]));
    if (state.marked) {
      card.appendChild(el("p", { className: "muted", text: t.not_duplicates_done }));
    }
    card.appendChild(el("div", { className: "table-wrap" }, [el("table", { className: "records" }, [
      el("thead", {}, [el("tr", {}, [
        el("th", { scope: "col", text: t.survivor }), el("th", { scope: "col", text: t.field_ID }),
        el("th", { scope: "col", text: t.name }), el("th", { scope: "col", text: t.phones }),
        el("th", { scope: "col", text: t.emails }), el("th", { scope: "col", text: t.created }),
        el("th", { scope: "col", text: t.drop_record })
      ])]),
      el("tbody", {}, rows)
    ])]));
    var review = el("div", { id: "review-" + number, className: "review" });
    review.hidden = !(state.review && state.review.open);
    if (state.review && state.review.open) { fillReview(review, state); }
    card.appendChild(review);
    var result = el("div", { className: "group__result", "aria-live": "polite" });
    card.appendChild(result);
    if (resultsByKey[state.key]) { fillResult(card, result, resultsByKey[state.key]); }
  }

  function refreshGroup(state) {
    var card = groupCard(state.key);
    if (card) { fillGroup(card, state); }
    syncSelectAll();
    fit();
  }

  function makeSurvivor(state, id) {
    state.ids = [id].concat(state.ids.filter(function (other) { return other !== id; }));
    refreshGroup(state);
    var card = groupCard(state.key);
    var radio = card && card.querySelector('tr[data-id="' + id + '"] .survivor-pick');
    if (radio) { radio.focus(); }
  }

  function toggleDrop(state, id) {
    if (state.dropped[id]) { delete state.dropped[id]; }
    else if (keptIds(state).length > 2) { state.dropped[id] = true; }
    else { setStatus(t.group_too_small, "error"); return; }
    refreshGroup(state);
    var card = groupCard(state.key);
    var again = card && card.querySelector('tr[data-id="' + id + '"] .drop');
    if (again) { again.focus(); }
  }

  function toggleNotDuplicates(state) {
    var body = { entityTypeId: context.entityTypeId, entityIds: state.original.entityIds };
    api(state.marked ? "DELETE" : "POST", "/api/not-duplicates", body).then(function () {
      state.marked = !state.marked;
      if (state.marked) { state.selected = false; }
      refreshGroup(state);
      var card = groupCard(state.key);
      if (card) { card.querySelector(".not-duplicates").focus(); }
    }).catch(function (error) { setStatus(error.message, "error"); });
  }

  function toggleReview(state) {
    if (!state.review) { state.review = { open: false }; }
    state.review.open = !state.review.open;
    if (state.review.open && !state.review.data) {
      state.review.loading = true;
      var ids = state.original.entityIds.join(",");
      api("GET", "/api/records?entityTypeId=" + context.entityTypeId + "&ids=" + ids).then(function (data) {
        state.review.data = data;
        state.review.conflicts = data.conflicts;
      }).catch(function (error) {
        state.review.error = error.message;
      }).then(function () {
        state.review.loading = false;
        refreshGroup(state);
      });
    }
    refreshGroup(state);
    var card = groupCard(state.key);
    if (card) { card.querySelector(".review-toggle").focus(); }
  }

  function fieldLabel(name) { return t["field_" + name] || name; }

  function fillReview(box, state) {
    var review = state.review;
    if (review.loading) { box.appendChild(el("p", { className: "muted", text: t.review_loading })); return; }
    if (review.error) { box.appendChild(el("p", { className: "error-message", text: format(t.records_failed, { message: review.error }) })); return; }
    var data = review.data;
    var byId = {};
    data.records.forEach(function (r) { byId[r.id] = r; });
    var ids = keptIds(state);
    var conflicts = {};
    data.conflicts.forEach(function (f) { conflicts[f] = true; });
    if (data.conflicts.length) {
      box.appendChild(el("p", { className: "warning conflict-warning", role: "note",
        text: format(t.conflicts_warning, { fields: data.conflicts.map(fieldLabel).join(", ") }) }));
    } else {
      box.appendChild(el("p", { className: "success", text: t.no_conflicts }));
    }
    data.missing.forEach(function (id) {
      box.appendChild(el("p", { className: "warning", text: format(t.record_missing, { id: id }) }));
    });
    var head = el("tr", {}, [el("th", { scope: "col", text: t.field })].concat(ids.map(function (id, i) {
      return el("th", { scope: "col" }, ["#" + id, i === 0 ? el("span", { className: "badge", text: t.survivor }) : null]);
    })));
    var rows = [];
    var fields = data.fields.filter(function (f) {
      return !HIDDEN_FIELDS[f] && ids.some(function (id) { return byId[id] && byId[id].fields[f]; });
    });
    fields.forEach(function (f) {
      var conflict = !!conflicts[f];
      rows.push(el("tr", { className: conflict ? "conflict" : "", "data-field": f }, [
        el("th", { scope: "row" }, [fieldLabel(f), conflict ? el("span", { className: "badge badge--warning", text: t.conflict_badge }) : null])
      ].concat(ids.map(function (id) {
        var value = byId[id] ? byId[id].fields[f] || "" : "";
        if (/DATE/.test(f) && value) { value = formatDate(value, f !== "BIRTHDATE"); }
        return el("td", { text: value });
      }))));
    });
    [["PHONE", "phones"], ["EMAIL", "emails"]].forEach(function (pair) {
      if (!ids.some(function (id) { return byId[id] && byId[id][pair[1]] && byId[id][pair[1]].length; })) { return; }
      rows.push(el("tr", { "data-field": pair[0] }, [el("th", { scope: "row", text: fieldLabel(pair[0]) })].concat(ids.map(function (id) {
        var values = byId[id] ? byId[id][pair[1]] : [];
        return el("td", {}, [el("ul", { className: "values" }, values.map(function (v) { return el("li", { text: v }); }))]);
      }))));
    });
    box.appendChild(el("div", { className: "table-wrap" }, [el("table", { className: "records compare" }, [
      el("caption", { className: "visually-hidden", text: t.review + " · " + t.group + " " + num(state.number) }),
      el("thead", {}, [head]), el("tbody", {}, rows)
    ])]));
  }

  function renderShared(shared) {
    var list = $("shared-list");
    list.textContent = "";
    (shared || []).forEach(function (pair) {
      var names = pair.records.map(function (r) { return "#" + r.id + " " + (r.name || ""); });
      var keys = pair.matchedOn.map(function (m) { return t[m] || m; }).join(", ");
      list.appendChild(el("li", { text: names.join(" · ") + " (" + keys + ")" }));
    });
    $("shared").hidden = !(shared && shared.length);
  }

  function showPage(offset) {
    if (!scan) { return Promise.resolve(); }
    return api("GET", "/api/scans/" + scan.id + "?offset=" + offset + "&limit=" + PAGE).then(function (job) {
      scan.offset = offset;
      scan.total = job.groupsTotal;
      var container = $("groups");
      container.textContent = "";
      job.groups.forEach(function (group, index) { container.appendChild(renderGroup(group, offset + index + 1)); });
      $("merge-bar").hidden = job.groupsTotal === 0;
      $("pager").hidden = job.groupsTotal <= PAGE;
      $("page-info").textContent = format(t.page_info, { from: offset + 1, to: offset + job.groups.length, total: job.groupsTotal });
      $("page-prev").disabled = offset === 0;
      $("page-next").disabled = offset + PAGE >= job.groupsTotal;
      if (offset === 0) { renderShared(job.shared); }
      syncSelectAll();
      fit();
      return job;
    });
  }

  function scanFinished(job) {
    hideProgress();
    if (job.status === "done") {
      scan = { id: job.id, total: job.groupsTotal, offset: 0 };
      groupState = {};
      resultsByKey = {};
      return showPage(0).then(function (page) {
        var read = (page.stats && page.stats.recordsRead) || page.progress.done;
        var text = page.groupsTotal ? format(t.scan_done, { groups: page.groupsTotal, records: read }) : t.no_groups;
        var hidden = page.stats && page.stats.notDuplicates;
        if (hidden) { text += " " + format(t.scan_done_hidden, { n: hidden }); }
        setStatus(text, page.groupsTotal ? "" : "ok");
      });
    }
    if (job.status === "cancelled") { setStatus(t.cancelled); }
    else { setStatus(format(t.scan_failed, { message: errorMessage(job.error) }), "error"); }
    return Promise.resolve();
  }

  function followScan(id) {
    busy(true);
    currentJob = { kind: "scans", id: id };
    return poll("/api/scans/" + id + "?limit=1", function (state) {
      showProgress(state.progress.done, state.progress.total, t.scanning);
    }).then(scanFinished).catch(function (error) {
      hideProgress();
      setStatus(error.message, "error");
    }).then(function () {
      busy(false);
      currentJob = null;
      $("scan-button").textContent = t.scan_again;
      fit();
    });
  }

  function startScan() {
    setStatus("");
    $("groups").textContent = "";
    $("merge-bar").hidden = true;
    $("pager").hidden = true;
    $("outcomes").hidden = true;
    $("last-job").hidden = true;
    var body = { entityTypeId: context.entityTypeId };
    if (context.seedId) { body.seedId = context.seedId; }
    busy(true);
    api("POST", "/api/scans", body).then(function (job) { return followScan(job.id); })
      .catch(function (error) { busy(false); setStatus(error.message, "error"); });
  }

  // -- merging --------------------------------------------------------------------------------

  function selectedStates() {
    return Object.keys(groupState).map(function (key) { return groupState[key]; }).filter(function (state) {
      return state.selected && !state.marked && !resultsByKey[state.key] && keptIds(state).length >= 2;
    });
  }

  function askMerge() {
    var states = selectedStates();
    if (!states.length) { setStatus(t.nothing_selected, "error"); return; }
    var list = $("confirm-list");
    list.textContent = "";
    states.slice(0, CONFIRM_LINES).forEach(function (state) {
      var ids = keptIds(state);
      list.appendChild(el("li", { text: format(t.confirm_line, {
        records: records(ids.length - 1), name: recordName(state, ids[0]), id: ids[0] }) }));
    });
    if (states.length > CONFIRM_LINES) {
      list.appendChild(el("li", { text: format(t.confirm_more, { n: states.length - CONFIRM_LINES }) }));
    }
    $("confirm-text").textContent = format(t.confirm_title, { groups: states.length });
    $("confirm").hidden = false;
    $("confirm-yes").focus();
    fit();
  }

  function openInPortal(url) {
    if (b24) {
      try {
        b24.slider.openPath(new URL(url)).catch(function () { window.top.location.href = url; });
        return;
      } catch (error) { /* fall through to navigating the top window */ }
    }
    window.top.location.href = url;
  }

  function syncSelectAll() {
    var boxes = Array.prototype.filter.call(document.querySelectorAll(".group-select"),
                                            function (box) { return !box.disabled; });
    $("select-all").checked = boxes.length > 0 && boxes.every(function (box) { return box.checked; });
    $("select-all").disabled = boxes.length === 0;
  }

  function summary(results) {
    var counts = { SUCCESS: 0, CONFLICT: 0, ERROR: 0 };
    results.forEach(function (r) { counts[r.status] += 1; });
    var kind = counts.ERROR ? "error" : (counts.CONFLICT ? "" : "ok");
    return { text: format(t.merge_summary, { success: counts.SUCCESS, conflict: counts.CONFLICT, error: counts.ERROR }), kind: kind };
  }

  function fillResult(card, box, result) {
    box.textContent = "";
    card.dataset.result = result.status;
    if (result.status === "SUCCESS") {
      box.appendChild(el("p", { className: "success", text: format(t.result_SUCCESS, { kept: result.keptId }) }));
    } else if (result.status === "CONFLICT") {
      box.appendChild(el("p", { className: "warning", text: t.result_CONFLICT }));
      box.appendChild(button(t.resolve, "btn--primary resolve", function () { openInPortal(result.manualMergeUrl); },
                             { "data-url": result.manualMergeUrl }));
    } else if (result.status === "NOT_ATTEMPTED") {
      box.appendChild(el("p", { className: "muted", text: t.not_attempted }));
    } else {
      box.appendChild(el("p", { className: "error-message", text: format(t.result_ERROR, { message: errorMessage(result.error) }) }));
    }
  }

  function keyForIds(ids) {
    var wanted = ids.join(",");
    var found = Object.keys(groupState).filter(function (key) { return keptIds(groupState[key]).join(",") === wanted; })[0];
    return found || wanted;
  }

  function recordResult(result) {
    var key = keyForIds(result.entityIds);
    if (result.status !== "ERROR" || !resultsByKey[key]) { resultsByKey[key] = result; }
    var state = groupState[key];
    if (state) { state.selected = false; refreshGroup(state); }
  }

  function describeIds(ids) { return ids.map(function (id) { return "#" + id; }).join(", "); }

  function renderOutcomes(results) {
    var conflicts = results.filter(function (r) { return r.status === "CONFLICT"; });
    var errors = results.filter(function (r) { return r.status === "ERROR"; });
    $("conflicts-list").textContent = "";
    $("errors-list").textContent = "";
    conflicts.forEach(function (r) {
      $("conflicts-list").appendChild(el("li", {}, [
        el("span", { text: describeIds(r.entityIds) }),
        button(t.resolve, "btn--primary resolve-all", function () { openInPortal(r.manualMergeUrl); },
               { "data-url": r.manualMergeUrl, "aria-label": t.resolve + ": " + describeIds(r.entityIds) })
      ]));
    });
    errors.forEach(function (r) {
      $("errors-list").appendChild(el("li", { text: describeIds(r.entityIds) + " — " + errorMessage(r.error) }));
    });
    $("conflicts-block").hidden = !conflicts.length;
    $("errors-block").hidden = !errors.length;
    $("outcomes").hidden = !(conflicts.length || errors.length);
  }

  function mergeFinished(job) {
    hideProgress();
    job.results.forEach(recordResult);
    (job.pending || []).forEach(function (ids) {
      if (job.status !== "done") { recordResult({ entityIds: ids, status: "NOT_ATTEMPTED" }); }
    });
    renderOutcomes(job.results);
    var done = summary(job.results);
    if (job.status === "done") { setStatus(done.text, done.kind); }
    else if (job.status === "cancelled") { setStatus(t.cancelled + " " + done.text); }
    else { setStatus(format(t.merge_failed, { message: errorMessage(job.error) }), "error"); }
    syncSelectAll();
    fit();
  }

  function followMerge(id) {
    busy(true);
    currentJob = { kind: "merges", id: id };
    return poll("/api/merges/" + id, function (state) {
      showProgress(state.progress.done, state.progress.total, t.merging);
      state.results.forEach(recordResult);
    }).then(mergeFinished).catch(function (error) {
      hideProgress();
      setStatus(error.message, "error");
    }).then(function () {
      busy(false);
      currentJob = null;
    });
  }

  function startMerge() {
    $("confirm").hidden = true;
    var groups = selectedStates().map(keptIds);
    setStatus("");
    busy(true);
    api("POST", "/api/merges", { entityTypeId: context.entityTypeId, groups: groups })
      .then(function (job) { return followMerge(job.id); })
      .catch(function (error) { busy(false); setStatus(error.message, "error"); });
  }

  // -- the user's last job ----------------------------------------------------------------------

  function offerLastJob() {
    api("GET", "/api/jobs").then(function (data) {
      var job = data.jobs.filter(function (j) { return j.entityTypeId === context.entityTypeId; })[0];
      if (!job || currentJob || scan) { return; }
      if (job.status === "queued" || job.status === "running") {
        if (job.kind === "scan") { followScan(job.id); } else { followMerge(job.id); }
        return;
      }
      $("last-job-text").textContent = format(t.last_job, {
        kind: t["kind_" + job.kind], date: formatDate(job.createdAt, true), status: t["status_" + job.status] });
      $("last-job").hidden = false;
      $("reopen-button").onclick = function () {
        $("last-job").hidden = true;
        if (job.kind === "scan") { followScan(job.id); } else { followMerge(job.id); }
      };
      fit();
    }).catch(function () { /* the offer is optional */ });
  }

  // -- history ------------------------------------------------------------------------------------

  function historyQuery() {
    var params = [];
    var add = function (key, value) { if (value) { params.push(key + "=" + encodeURIComponent(value)); } };
    add("status", $("filter-status").value);
    add("userId", $("filter-user").value);
    add("from", $("filter-from").value);
    add("to", $("filter-to").value);
    params.push("tzOffset=" + new Date().getTimezoneOffset());
    return params.join("&");
  }

  function userLabel(id, name) { return name || format(t.user_n, { id: id }); }

  function loadHistory(offset) {
    setStatus(t.loading, "", "history-status");
    api("GET", "/api/history?" + historyQuery() + "&offset=" + offset + "&limit=" + PAGE).then(function (data) {
      history.offset = offset;
      history.total = data.total;
      var select = $("filter-user");
      var chosen = select.value;
      while (select.options.length > 1) { select.remove(1); }
      data.users.forEach(function (u) {
        var option = el("option", { value: String(u.id), text: userLabel(u.id, u.name) });
        option.selected = String(u.id) === chosen;
        select.appendChild(option);
      });
      var body = $("history-rows");
      body.textContent = "";
      data.items.forEach(function (item) {
        var result = el("td", { className: "result result--" + item.status }, [t["status_" + item.status]]);
        if (item.status === "ERROR" && item.errorCode) { result.title = errorMessage({ code: item.errorCode }); }
        if (item.status === "CONFLICT" && item.manualMergeUrl) {
          result.appendChild(document.createTextNode(" "));
          result.appendChild(button(t.resolve, "btn--link", function () { openInPortal(item.manualMergeUrl); }));
        }
        body.appendChild(el("tr", { "data-status": item.status }, [
          el("td", { text: formatDate(item.finishedAt, true) }),
          el("td", { text: userLabel(item.userId, item.userName) }),
          el("td", { text: t[["", "lead", "deal", "contact", "company"][item.entityTypeId]] || "" }),
          el("td", { text: describeIds(item.entityIds) }),
          el("td", { text: item.keptId ? "#" + item.keptId : "—" }),
          result
        ]));
      });
      setStatus(data.total ? format(t.history_count, { total: data.total }) : t.history_empty, "", "history-status");
      $("history-pager").hidden = data.total <= PAGE;
      $("history-info").textContent = format(t.page_info, { from: offset + 1, to: offset + data.items.length, total: data.total });
      $("history-prev").disabled = offset === 0;
      $("history-next").disabled = offset + PAGE >= data.total;
      fit();
    }).catch(function (error) { setStatus(error.message, "error", "history-status"); });
  }

  function exportHistory() {
    fetch("/api/history?format=csv&" + historyQuery(), { headers: { "Authorization": "Bearer " + token } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        var disposition = response.headers.get("Content-Disposition") || "";
        var match = /filename="([^"]+)"/.exec(disposition);
        return response.blob().then(function (blob) { return { blob: blob, name: match ? match[1] : "merge-history.csv" }; });
      }).then(function (file) {
        var link = el("a", { href: URL.createObjectURL(file.blob), download: file.name });
        document.body.appendChild(link);
        link.click();
        setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
      }).catch(function (error) { setStatus(error.message, "error", "history-status"); });
  }

  function selectTab(name) {
    ["groups", "history"].forEach(function (other) {
      var tab = $("tab-" + other);
      var on = other === name;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      $("panel-" + other).hidden = !on;
    });
    $("tab-" + name).focus();
    if (name === "history") { loadHistory(0); }
    fit();
  }

  // -- wiring -------------------------------------------------------------------------------------

  $("scan-button").addEventListener("click", startScan);
  $("merge-button").addEventListener("click", askMerge);
  $("confirm-yes").addEventListener("click", startMerge);
  $("confirm-no").addEventListener("click", function () { $("confirm").hidden = true; $("merge-button").focus(); fit(); });
  $("select-all").addEventListener("change", function (event) {
    document.querySelectorAll(".group-select").forEach(function (box) {
      if (!box.disabled) { box.checked = event.target.checked; groupState[box.dataset.key].selected = box.checked; }
    });
  });
  $("cancel-button").addEventListener("click", function () {
    if (currentJob) { api("POST", "/api/" + currentJob.kind + "/" + currentJob.id + "/cancel", {}); }
  });
  $("page-prev").addEventListener("click", function () { showPage(Math.max(0, scan.offset - PAGE)); });
  $("page-next").addEventListener("click", function () { showPage(scan.offset + PAGE); });
  $("tab-groups").addEventListener("click", function () { selectTab("groups"); });
  $("tab-history").addEventListener("click", function () { selectTab("history"); });
  document.querySelector(".tabs").addEventListener("keydown", function (event) {
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      selectTab($("tab-groups").getAttribute("aria-selected") === "true" ? "history" : "groups");
      event.preventDefault();
    }
  });
  $("history-filters").addEventListener("submit", function (event) { event.preventDefault(); loadHistory(0); });
  $("history-export").addEventListener("click", exportHistory);
  $("history-prev").addEventListener("click", function () { loadHistory(Math.max(0, history.offset - PAGE)); });
  $("history-next").addEventListener("click", function () { loadHistory(history.offset + PAGE); });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !$("confirm").hidden) { $("confirm").hidden = true; $("merge-button").focus(); }
  });

  if (window.B24Js) {
    var watchdog = new Promise(function (resolve) { setTimeout(function () { resolve(null); }, 5000); });
    Promise.race([window.B24Js.initializeB24Frame(), watchdog]).then(function (frame) {
      b24 = frame;
      document.body.dataset.frame = frame ? "ready" : "unavailable";
      fit();
    }).catch(function () { document.body.dataset.frame = "unavailable"; });
  } else {
    document.body.dataset.frame = "unavailable";
  }

  if (context.seedId) { startScan(); } else { offerLastJob(); }
})();
