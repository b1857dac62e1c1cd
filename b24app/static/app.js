// The app's UI: scan, review groups, merge, hand conflicts to Bitrix24, the history, settings.
(function () {
  "use strict";

  var PAGE = 50;
  var CONFIRM_LINES = 10;
  var token = document.querySelector('meta[name="b24app-session"]').content;
  var t = JSON.parse(document.getElementById("b24app-i18n").textContent);
  var context = JSON.parse(document.getElementById("b24app-context").textContent);
  var lang = document.documentElement.lang || "en";
  var $ = function (id) { return document.getElementById(id); };
  var ENTITIES = ["", "lead", "deal", "contact", "company"];
  var entity = ENTITIES[context.entityTypeId];
  var b24 = null;
  var currentJob = null;
  var scan = null;          // {id, total, offset}
  var groupState = {};      // key -> {key, original, order, survivor, dropped, selected, review, ...}
  var resultsByKey = {};
  var known = {};           // record ID -> name, from the groups shown
  var names = {};           // entityTypeId -> {ID: name}, asked of the portal
  var history = { offset: 0, total: 0 };
  var numbers = new Intl.NumberFormat(lang);
  var plurals = new Intl.PluralRules(lang);
  // One format per kind: a day, or a day and a time, the same everywhere.
  var DAY = { year: "numeric", month: "2-digit", day: "2-digit" };
  var dayFormat = new Intl.DateTimeFormat(lang, DAY);
  var calendarDayFormat = new Intl.DateTimeFormat(lang, Object.assign({ timeZone: "UTC" }, DAY));
  var momentFormat = new Intl.DateTimeFormat(lang, Object.assign({ hour: "2-digit", minute: "2-digit" }, DAY));
  var HIDDEN_FIELDS = { ID: true, HAS_PHONE: true, HAS_EMAIL: true };

  function num(value) { return numbers.format(value); }

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) {
      var value = values[key];
      if (value === undefined) { return ""; }
      return typeof value === "number" ? num(value) : String(value);
    });
  }

  // A counted message in the form the language's plural rules pick for n.
  function plural(key, n, values) {
    var text = t[key + "_" + plurals.select(n)] || t[key + "_other"];
    return format(text, Object.assign({ n: n }, values || {}));
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
          var error = new Error(data.error ? errorMessage(data.error) : ("HTTP " + response.status));
          error.status = response.status;
          throw error;
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
    var parts = [label];
    if (total) { parts.push(format(t.progress_of, { done: done, total: total })); }
    $("progress-text").textContent = parts.join(" ");
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

  function parseMoment(value) {
    var date = new Date(value);
    return isNaN(date.getTime()) ? null : date;
  }

  // A moment (DATE_CREATE...) as the user's day, or day and time.
  function formatDay(value) { var d = value && parseMoment(value); return d ? dayFormat.format(d) : (value || ""); }
  function formatMoment(value) { var d = value && parseMoment(value); return d ? momentFormat.format(d) : (value || ""); }

  // A date field (BIRTHDATE...) is a calendar day: shown as written, whatever the time zone.
  function formatCalendarDay(value) {
    var match = /^(\d{4})-(\d{2})-(\d{2})/.exec(String(value || ""));
    if (!match) { return formatDay(value); }
    return calendarDayFormat.format(new Date(Date.UTC(+match[1], +match[2] - 1, +match[3])));
  }

  function money(value, currency) {
    var amount = Number(value);
    if (!isFinite(amount)) { return value; }
    if (/^[A-Z]{3}$/.test(currency || "")) {
      try { return new Intl.NumberFormat(lang, { style: "currency", currency: currency }).format(amount); }
      catch (error) { /* an unknown currency code: a plain number then */ }
    }
    return numbers.format(amount);
  }

  function currencyName(code) {
    try { return new Intl.DisplayNames([lang], { type: "currency" }).of(code) || code; }
    catch (error) { return code; }
  }

  function nameOf(entityTypeId, id) {
    if (entityTypeId === context.entityTypeId && known[id]) { return known[id]; }
    return (names[entityTypeId] || {})[id] || "";
  }

  function describeIds(ids) { return ids.map(function (id) { return "#" + id; }).join(", "); }

  // A group by its survivor's name and every ID: "Иван Петров (#1, #2, #3)".
  function describeGroup(entityTypeId, ids) {
    var list = describeIds(ids);
    var name = nameOf(entityTypeId, ids[0]);
    return name ? name + " (" + list + ")" : list;
  }

  // Ask the portal for the names not known yet (records it still shows the user).
  function learnNames(entityTypeId, ids) {
    var table = names[entityTypeId] = names[entityTypeId] || {};
    var wanted = ids.filter(function (id, i) {
      return id && !table[id] && !(entityTypeId === context.entityTypeId && known[id]) && ids.indexOf(id) === i;
    }).slice(0, 500);
    if (!wanted.length) { return Promise.resolve(); }
    return api("GET", "/api/names?entityTypeId=" + entityTypeId + "&ids=" + wanted.join(","))
      .then(function (data) { Object.keys(data.names).forEach(function (id) { table[id] = data.names[id]; }); })
      .catch(function () { /* names are a courtesy: the IDs stay */ });
  }

  // -- groups ---------------------------------------------------------------------------------

  function member(state, id) {
    return state.original.records.filter(function (r) { return r.id === id; })[0] || { id: id };
  }

  function recordName(state, id) {
    var m = member(state, id);
    return (m.name || m.title || "").trim() || ("#" + id);
  }

  // The records that stay in the group, the survivor first; the rows keep their own order.
  function keptIds(state) {
    var kept = state.order.filter(function (id) { return !state.dropped[id]; });
    var survivor = kept.indexOf(state.survivor) >= 0 ? state.survivor : kept[0];
    return [survivor].concat(kept.filter(function (id) { return id !== survivor; }));
  }

  function stateFor(group) {
    var key = group.entityIds.join(",");
    if (!groupState[key]) {
      groupState[key] = { key: key, original: group, order: group.entityIds.slice(), survivor: group.entityIds[0],
                          dropped: {}, selected: true, review: null, marked: false, conflicts: null };
    }
    group.records.forEach(function (r) { known[r.id] = (r.name || r.title || "").trim(); });
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

  // Which columns a type's records show: people by name, the rest by title; deals by client.
  function columns() {
    if (context.entityTypeId === 2) { return ["title", "client", "created"]; }
    if (context.entityTypeId === 4) { return ["title", "phones", "emails", "created"]; }
    return ["name", "phones", "emails", "created"];
  }

  var HEADERS = { name: "name", title: "field_TITLE", phones: "phones", emails: "emails", client: "client",
                  created: "created" };

  function valuesList(values) {
    return el("ul", { className: "values" }, (values || []).map(function (v) { return el("li", { text: v }); }));
  }

  function clientName(m) {
    if (!m.client) { return ""; }
    var type = m.client.type === "company" ? 4 : 3;
    return nameOf(type, m.client.id) || ("#" + m.client.id);
  }

  function cell(column, m) {
    if (column === "name" || column === "title") {
      return el("td", { className: "record-name", text: column === "name" ? (m.name || m.title || "") : (m.title || m.name || "") });
    }
    if (column === "phones") { return el("td", {}, [valuesList(m.phones)]); }
    if (column === "emails") { return el("td", {}, [valuesList(m.emails)]); }
    if (column === "client") { return el("td", { className: "client", text: clientName(m) }); }
    return el("td", { className: "nowrap", text: formatDay(m.created) });
  }

  function fillGroup(card, state) {
    var number = state.number;
    card.textContent = "";
    card.dataset.ids = keptIds(state).join(",");
    var result = resultsByKey[state.key];
    var locked = state.marked || !!result;
    var checkbox = el("input", { type: "checkbox", className: "group-select", "data-key": state.key,
                                 "aria-label": format(t.select_group, { n: number }) });
    checkbox.checked = state.selected && !locked;
    checkbox.disabled = locked;
    checkbox.addEventListener("change", function () { state.selected = checkbox.checked; syncSelectAll(); });
    var matched = state.original.matchedOn.map(function (m) { return t[m] || m; }).join(", ");
    var survivor = keptIds(state)[0];
    var rows = state.order.map(function (id) {
      var m = member(state, id);
      var dropped = !!state.dropped[id];
      var isSurvivor = survivor === id;
      var radio = el("input", { type: "radio", name: "survivor-" + state.key, className: "survivor-pick",
                                "aria-label": format(t.survivor_label, { id: id, n: number }) });
      radio.checked = isSurvivor;
      radio.disabled = dropped || locked;
      radio.addEventListener("change", function () { makeSurvivor(state, id); });
      var canDrop = dropped || keptIds(state).length > 2;
      var drop = button(dropped ? t.undo : t.drop_short, "btn--link drop", function () { toggleDrop(state, id); },
                        { "aria-label": format(dropped ? t.undo_drop_label : t.drop_record_label, { id: id, n: number }) });
      drop.disabled = locked || !canDrop;
      return el("tr", { className: (isSurvivor ? "survivor" : "") + (dropped ? " dropped" : ""), "data-id": String(id) }, [
        el("td", { className: "keep" }, [radio, isSurvivor ? el("span", { className: "badge", text: t.survivor }) : null]),
        el("td", { className: "nowrap", text: "#" + id })
      ].concat(columns().map(function (column) { return cell(column, m); })).concat([el("td", {}, [drop])]));
    });
    var open = !!(state.review && state.review.open) && !(result && result.status === "SUCCESS");
    var reviewButton = button(open ? t.review_hide : t.review, "btn--light review-toggle",
                              function () { toggleReview(state); },
                              { "aria-expanded": open ? "true" : "false", "aria-controls": "review-" + number });
    // Merged records are gone: nothing is left to compare.
    reviewButton.disabled = !!(result && result.status === "SUCCESS");
    var notDup = button(state.marked ? t.undo : t.not_duplicates, "btn--light not-duplicates",
                        function () { toggleNotDuplicates(state); });
    notDup.disabled = !!result;
    var conflicts = currentConflicts(state);
    card.appendChild(el("header", { className: "group__head" }, [
      el("h3", { id: "group-title-" + number, className: "group__title" }, [
        el("label", {}, [checkbox, " " + t.group + " " + num(number)])
      ]),
      el("span", { className: "muted", text: t.matched_on + ": " + matched }),
      conflicts && conflicts.length && !result ? el("span", { className: "badge badge--warning conflict-badge", text: t.conflict_badge }) : null,
      el("span", { className: "group__actions" }, [reviewButton, notDup])
    ]));
    if (state.marked) {
      card.appendChild(el("p", { className: "muted", text: t.not_duplicates_done }));
    }
    var head = [el("th", { scope: "col", text: t.col_keep }), el("th", { scope: "col", text: t.field_ID })]
      .concat(columns().map(function (column) { return el("th", { scope: "col", text: t[HEADERS[column]] }); }))
      .concat([el("th", { scope: "col" }, [el("span", { className: "visually-hidden", text: t.drop_record })])]);
    card.appendChild(el("div", { className: "table-wrap" }, [el("table", { className: "records members" }, [
      el("thead", {}, [el("tr", {}, head)]),
      el("tbody", {}, rows)
    ])]));
    var review = el("div", { id: "review-" + number, className: "review" });
    review.hidden = !open;
    if (open) { fillReview(review, state); }
    card.appendChild(review);
    var box = el("div", { className: "group__result", "aria-live": "polite" });
    card.appendChild(box);
    if (result) { fillResult(card, box, result, state); }
  }

  function refreshGroup(state) {
    var card = groupCard(state.key);
    if (card) { fillGroup(card, state); }
    syncSelectAll();
    fit();
  }

  function makeSurvivor(state, id) {
    state.survivor = id;
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
    predict([state]);
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

  // The fields mergeBatch would find in conflict for the group as it stands now.
  function currentConflicts(state) {
    if (state.conflicts) { return state.conflicts; }
    var data = state.review && state.review.data;
    return data ? data.conflicts : null;
  }

  // Predicted conflicts for groups (a page, or one group after a record left it).
  function predict(states) {
    var wanted = states.filter(function (state) {
      return !state.marked && !resultsByKey[state.key] && keptIds(state).length >= 2;
    });
    if (!wanted.length) { return Promise.resolve(); }
    var groups = wanted.map(keptIds);
    return api("POST", "/api/conflicts", { entityTypeId: context.entityTypeId, groups: groups }).then(function (data) {
      data.groups.forEach(function (found, index) {
        var state = wanted[index];
        if (keptIds(state).join(",") === found.entityIds.join(",")) {
          state.conflicts = found.conflicts;
          refreshGroup(state);
        }
      });
      fit();
    }).catch(function () { /* the badge is a forecast; the review and the merge still tell */ });
  }

  function fieldLabel(name, data) {
    return t["field_" + name] || (data && data.labels && data.labels[name]) || name;
  }

  // A value as a person reads it: the portal's name for it, else formatted by its type.
  function readable(data, record, field) {
    if (record.display && record.display[field]) { return record.display[field]; }
    var value = record.fields[field];
    if (value === undefined || value === "") { return ""; }
    switch ((data.types || {})[field]) {
      case "char":
      case "boolean":
        return value === "Y" ? t.yes : (value === "N" ? t.no : value);
      case "date": return formatCalendarDay(value);
      case "datetime": return formatMoment(value);
      case "double":
      case "money":
        return money(value, record.fields.CURRENCY_ID);
      case "crm_currency": return currencyName(value);
      case "user": return format(t.user_n, { id: value });
      case "crm_contact":
      case "crm_company":
      case "crm_lead":
        return "#" + value;
      default: return value;
    }
  }

  function fillReview(box, state) {
    var review = state.review;
    if (review.loading) { box.appendChild(el("p", { className: "muted", text: t.review_loading })); return; }
    if (review.error) { box.appendChild(el("p", { className: "error-message", text: format(t.records_failed, { message: review.error }) })); return; }
    var data = review.data;
    var byId = {};
    data.records.forEach(function (r) { byId[r.id] = r; });
    var survivor = keptIds(state)[0];
    var ids = state.order.filter(function (id) { return !state.dropped[id]; });
    var conflicts = {};
    var found = currentConflicts(state) || [];
    found.forEach(function (f) { conflicts[f] = true; });
    if (found.length) {
      box.appendChild(el("p", { className: "warning conflict-warning", role: "note",
        text: format(t.conflicts_warning, { fields: found.map(function (f) { return fieldLabel(f, data); }).join(", ") }) }));
    } else {
      box.appendChild(el("p", { className: "success", text: t.no_conflicts }));
    }
    data.missing.forEach(function (id) {
      box.appendChild(el("p", { className: "warning", text: format(t.record_missing, { id: id }) }));
    });
    var head = el("tr", {}, [el("th", { scope: "col", text: t.field })].concat(ids.map(function (id) {
      return el("th", { scope: "col" }, ["#" + id, id === survivor ? el("span", { className: "badge", text: t.survivor }) : null]);
    })));
    var rows = [];
    var fields = data.fields.filter(function (f) {
      return !HIDDEN_FIELDS[f] && ids.some(function (id) { return byId[id] && byId[id].fields[f]; });
    });
    fields.forEach(function (f) {
      var conflict = !!conflicts[f];
      // A custom field's label is the portal's own word, as Bitrix24 shows it.
      var custom = !t["field_" + f] && data.labels && data.labels[f];
      rows.push(el("tr", { className: conflict ? "conflict" : "", "data-field": f }, [
        el("th", { scope: "row", className: custom ? "portal-label" : "" }, [fieldLabel(f, data),
          conflict ? el("span", { className: "badge badge--warning", text: t.conflict_badge }) : null])
      ].concat(ids.map(function (id) {
        return el("td", { text: byId[id] ? readable(data, byId[id], f) : "" });
      }))));
    });
    [["PHONE", "phones"], ["EMAIL", "emails"]].forEach(function (pair) {
      if (!ids.some(function (id) { return byId[id] && byId[id][pair[1]] && byId[id][pair[1]].length; })) { return; }
      rows.push(el("tr", { "data-field": pair[0] }, [el("th", { scope: "row", text: fieldLabel(pair[0], data) })].concat(ids.map(function (id) {
        return el("td", {}, [valuesList(byId[id] ? byId[id][pair[1]] : [])]);
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
      var named = pair.records.map(function (r) { return "#" + r.id + " " + (r.name || r.title || ""); });
      var keys = pair.matchedOn.map(function (m) { return t[m] || m; }).join(", ");
      list.appendChild(el("li", { text: named.join(" · ") + " (" + keys + ")" }));
    });
    $("shared").hidden = !(shared && shared.length);
  }

  function clientIds(groups, type) {
    var ids = [];
    groups.forEach(function (group) {
      group.records.forEach(function (r) { if (r.client && r.client.type === type) { ids.push(r.client.id); } });
    });
    return ids;
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
      var states = job.groups.map(function (group) { return groupState[group.entityIds.join(",")]; });
      if (context.entityTypeId === 2) {
        Promise.all([learnNames(4, clientIds(job.groups, "company")), learnNames(3, clientIds(job.groups, "contact"))])
          .then(function () { states.forEach(refreshGroup); });
      }
      predict(states);
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
        var text = page.groupsTotal
          ? format(t.scan_done, { groups: plural("groups_found", page.groupsTotal), records: plural("among_records", read) })
          : t.no_groups;
        var hidden = page.stats && page.stats.notDuplicates;
        if (hidden) { text += " " + plural("hidden_groups", hidden); }
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
      var conflicts = currentConflicts(state);
      // Bitrix24 deletes nothing of a group it answers CONFLICT for: say what will happen there.
      var line = conflicts && conflicts.length
        ? format(t.confirm_line_conflict, { name: recordName(state, ids[0]), id: ids[0] })
        : plural("confirm_line_" + entity, ids.length - 1, { name: recordName(state, ids[0]), id: ids[0] });
      list.appendChild(el("li", { className: conflicts && conflicts.length ? "confirm-conflict" : "",
                                  text: line }));
    });
    if (states.length > CONFIRM_LINES) {
      list.appendChild(el("li", { text: plural("confirm_more", states.length - CONFIRM_LINES) }));
    }
    $("confirm-text").textContent = plural("confirm_title", states.length);
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
    var parts = [plural("summary_merged", counts.SUCCESS)];
    if (counts.CONFLICT) { parts.push(plural("summary_conflict", counts.CONFLICT)); }
    if (counts.ERROR) { parts.push(plural("summary_error", counts.ERROR)); }
    var kind = counts.ERROR ? "error" : (counts.CONFLICT ? "" : "ok");
    return { text: parts.join(", ") + ".", kind: kind };
  }

  function fillResult(card, box, result, state) {
    box.textContent = "";
    card.dataset.result = result.status;
    if (result.status === "SUCCESS") {
      box.appendChild(el("p", { className: "success", text: format(t.result_SUCCESS, {
        kept: result.keptId, name: recordName(state, result.keptId) }) }));
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

  function renderOutcomes(results) {
    var conflicts = results.filter(function (r) { return r.status === "CONFLICT"; });
    var errors = results.filter(function (r) { return r.status === "ERROR"; });
    $("conflicts-list").textContent = "";
    $("errors-list").textContent = "";
    conflicts.forEach(function (r) {
      var label = describeGroup(context.entityTypeId, r.entityIds);
      $("conflicts-list").appendChild(el("li", {}, [
        el("span", { text: label }),
        button(t.resolve, "btn--primary resolve-all", function () { openInPortal(r.manualMergeUrl); },
               { "data-url": r.manualMergeUrl, "aria-label": t.resolve + ": " + label })
      ]));
    });
    errors.forEach(function (r) {
      $("errors-list").appendChild(el("li", { text: describeGroup(context.entityTypeId, r.entityIds) + " — " + errorMessage(r.error) }));
    });
    $("conflicts-block").hidden = !conflicts.length;
    $("errors-block").hidden = !errors.length;
    $("outcomes").hidden = !(conflicts.length || errors.length);
    fit();
  }

  function mergeFinished(job) {
    hideProgress();
    job.results.forEach(recordResult);
    (job.pending || []).forEach(function (ids) {
      if (job.status !== "done") { recordResult({ entityIds: ids, status: "NOT_ATTEMPTED" }); }
    });
    renderOutcomes(job.results);
    var unnamed = job.results.filter(function (r) { return r.status !== "SUCCESS"; })
      .map(function (r) { return r.entityIds[0]; });
    learnNames(context.entityTypeId, unnamed).then(function () { renderOutcomes(job.results); });
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
        kind: t["kind_" + job.kind], date: formatMoment(job.createdAt), status: t["status_" + job.status] });
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

  function historyRow(item) {
    var result = el("td", { className: "result result--" + item.status }, [t["status_" + item.status]]);
    if (item.status === "ERROR") {
      var reason = item.errorCode ? errorMessage({ code: item.errorCode }) : t.error_unknown;
      result.appendChild(el("span", { className: "reason", text: reason }));
    }
    if (item.status === "CONFLICT" && item.manualMergeUrl) {
      result.appendChild(document.createTextNode(" "));
      result.appendChild(button(t.resolve, "btn--link", function () { openInPortal(item.manualMergeUrl); }));
    }
    var kept = item.keptId ? nameOf(item.entityTypeId, item.keptId) : "";
    return el("tr", { "data-status": item.status }, [
      el("td", { className: "nowrap", text: formatMoment(item.finishedAt) }),
      el("td", { text: userLabel(item.userId, item.userName) }),
      el("td", { text: t[ENTITIES[item.entityTypeId]] || "" }),
      // Every group by its first record's name (the survivor, when one was kept) and its IDs.
      el("td", { text: describeGroup(item.entityTypeId, item.entityIds) }),
      el("td", { text: item.keptId ? (kept ? kept + ", #" + item.keptId : "#" + item.keptId) : "—" }),
      result
    ]);
  }

  function loadHistory(offset) {
    setStatus(t.loading, "", "history-status");
    api("GET", "/api/history?" + historyQuery() + "&offset=" + offset + "&limit=" + PAGE).then(function (data) {
      var byType = {};
      data.items.forEach(function (item) {
        (byType[item.entityTypeId] = byType[item.entityTypeId] || []).push(item.keptId || item.entityIds[0]);
      });
      return Promise.all(Object.keys(byType).map(function (type) { return learnNames(Number(type), byType[type]); }))
        .then(function () { return data; });
    }).then(function (data) {
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
      data.items.forEach(function (item) { body.appendChild(historyRow(item)); });
      var counts = data.counts || {};
      setStatus(data.total ? format(t.history_count, {
        total: plural("history_total", data.total), success: counts.SUCCESS || 0,
        conflict: counts.CONFLICT || 0, error: counts.ERROR || 0 }) : t.history_empty, "", "history-status");
      $("history-pager").hidden = data.total <= PAGE;
      $("history-info").textContent = format(t.page_info, { from: offset + 1, to: offset + data.items.length, total: data.total });
      $("history-prev").disabled = offset === 0;
      $("history-next").disabled = offset + PAGE >= data.total;
      fit();
    }).catch(function (error) { setStatus(error.message, "error", "history-status"); });
  }

  function exportHistory() {
    var query = "/api/history?format=csv&lang=" + encodeURIComponent(lang) + "&" + historyQuery();
    fetch(query, { headers: { "Authorization": "Bearer " + token } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        var disposition = response.headers.get("Content-Disposition") || "";
        var match = /filename="([^"]+)"/.exec(disposition);
        return response.blob().then(function (blob) { return { blob: blob, name: match ? match[1] : "merge-history.csv" }; });
      }).then(function (file) {
        var link = el("a", { href: URL.createObjectURL(file.blob), download: file.name });
        document.body.appendChild(link);
        link.click();
        link.remove();  // a nameless link must not linger in the page
        setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
      }).catch(function (error) { setStatus(error.message, "error", "history-status"); });
  }

  // -- settings ---------------------------------------------------------------------------------

  function regionName(code) {
    try { return new Intl.DisplayNames([lang], { type: "region" }).of(code) || code; }
    catch (error) { return code; }
  }

  function loadSettings() {
    setStatus("", "", "settings-status");
    api("GET", "/api/settings").then(function (data) {
      var select = $("phone-country");
      while (select.options.length > 1) { select.remove(1); }
      var collator = new Intl.Collator(lang);
      data.phoneCountries.map(function (code) { return { code: code, name: regionName(code) }; })
        .sort(function (a, b) { return collator.compare(a.name, b.name); })
        .forEach(function (region) {
          select.appendChild(el("option", { value: region.code, text: region.name + " (" + region.code + ")" }));
        });
      select.value = data.phoneCountry || "";
      // The portal says who is an admin; the server asks it again before changing anything.
      var admin = !(b24 && b24.auth && b24.auth.isAdmin === false);
      select.disabled = !admin;
      $("settings-save").disabled = !admin;
      if (!admin) { setStatus(t.settings_admin_only, "", "settings-status"); }
      fit();
    }).catch(function (error) { setStatus(error.message, "error", "settings-status"); });
  }

  function saveSettings(event) {
    event.preventDefault();
    var value = $("phone-country").value || null;
    api("PUT", "/api/settings", { phoneCountry: value }).then(function () {
      setStatus(t.settings_saved, "ok", "settings-status");
    }).catch(function (error) {
      setStatus(error.status === 403 ? t.settings_admin_only : error.message, "error", "settings-status");
    });
  }

  var TABS = ["groups", "history", "settings"];

  function selectTab(name) {
    TABS.forEach(function (other) {
      var tab = $("tab-" + other);
      var on = other === name;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      $("panel-" + other).hidden = !on;
    });
    $("tab-" + name).focus();
    if (name === "history") { loadHistory(0); }
    if (name === "settings") { loadSettings(); }
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
  TABS.forEach(function (name) { $("tab-" + name).addEventListener("click", function () { selectTab(name); }); });
  document.querySelector(".tabs").addEventListener("keydown", function (event) {
    if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") { return; }
    var current = TABS.filter(function (name) { return $("tab-" + name).getAttribute("aria-selected") === "true"; })[0];
    var step = event.key === "ArrowRight" ? 1 : TABS.length - 1;
    selectTab(TABS[(TABS.indexOf(current) + step) % TABS.length]);
    event.preventDefault();
  });
  $("history-filters").addEventListener("submit", function (event) { event.preventDefault(); loadHistory(0); });
  $("history-export").addEventListener("click", exportHistory);
  $("history-prev").addEventListener("click", function () { loadHistory(Math.max(0, history.offset - PAGE)); });
  $("history-next").addEventListener("click", function () { loadHistory(history.offset + PAGE); });
  $("settings-form").addEventListener("submit", saveSettings);
  // Opening or closing the shared pairs changes the height: the frame follows.
  $("shared").addEventListener("toggle", fit);
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
