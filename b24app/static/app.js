// The app's UI: scan, review groups, merge, and hand conflicts to Bitrix24's merge page.
(function () {
  "use strict";

  var token = document.querySelector('meta[name="b24app-session"]').content;
  var t = JSON.parse(document.getElementById("b24app-i18n").textContent);
  var context = JSON.parse(document.getElementById("b24app-context").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var b24 = null;
  var currentJob = null;
  var groupsById = {};

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) {
      return values[key] === undefined ? "" : String(values[key]);
    });
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
          throw new Error((data.error && data.error.message) || ("HTTP " + response.status));
        }
        return data;
      });
    });
  }

  function fit() {
    if (b24) { b24.parent.fitWindow().catch(function () {}); }
  }

  function setStatus(text, kind) {
    var el = $("status");
    el.textContent = text || "";
    el.className = "status" + (kind ? " status--" + kind : "");
  }

  function showProgress(done, total, label) {
    $("progress").hidden = false;
    var pct = total ? Math.min(100, Math.round(100 * done / total)) : 0;
    $("progress-fill").style.width = (total ? pct : 5) + "%";
    $("progress-text").textContent = label + (total ? " " + done + " / " + total : "");
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
          if (job.status === "queued" || job.status === "running") {
            setTimeout(tick, 600);
          } else {
            resolve(job);
          }
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
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  }

  function formatDate(value) {
    if (!value) { return ""; }
    var date = new Date(value);
    if (isNaN(date.getTime())) { return value; }
    return date.toLocaleDateString(document.documentElement.lang || undefined);
  }

  function renderGroup(group, index) {
    var key = group.entityIds.join(",");
    groupsById[key] = group;
    var rows = group.records.map(function (record, position) {
      return el("tr", { className: position === 0 ? "survivor" : "" }, [
        el("td", { text: "#" + record.id }),
        el("td", {}, [
          document.createTextNode(record.name || ""),
          position === 0 ? el("span", { className: "badge", text: t.survivor }) : null
        ]),
        el("td", { text: (record.phones || []).join(", ") }),
        el("td", { text: (record.emails || []).join(", ") }),
        el("td", { text: formatDate(record.created) })
      ]);
    });
    var checkbox = el("input", { type: "checkbox", className: "group-select", "data-ids": key,
                                 "aria-label": t.group + " " + (index + 1) });
    checkbox.checked = true;
    var matched = group.matchedOn.map(function (m) { return t[m] || m; }).join(", ");
    return el("article", { className: "card group", "data-ids": key }, [
      el("header", { className: "group__head" }, [
        el("label", {}, [checkbox, document.createTextNode(" " + t.group + " " + (index + 1))]),
        el("span", { className: "muted", text: t.matched_on + ": " + matched })
      ]),
      el("table", { className: "records" }, [
        el("thead", {}, [el("tr", {}, [
          el("th", { text: "ID" }), el("th", { text: "" }), el("th", { text: t.phones }),
          el("th", { text: t.emails }), el("th", { text: t.created })
        ])]),
        el("tbody", {}, rows)
      ]),
      el("div", { className: "group__result", "aria-live": "polite" })
    ]);
  }

  function renderScan(job) {
    var container = $("groups");
    container.textContent = "";
    groupsById = {};
    job.groups.forEach(function (group, index) { container.appendChild(renderGroup(group, index)); });
    $("merge-bar").hidden = job.groups.length === 0;
    var list = $("shared-list");
    list.textContent = "";
    (job.shared || []).forEach(function (pair) {
      var names = pair.records.map(function (r) { return "#" + r.id + " " + (r.name || ""); });
      list.appendChild(el("li", { text: names.join(" · ") + " (" + pair.matchedOn.map(function (m) { return t[m] || m; }).join(", ") + ")" }));
    });
    $("shared").hidden = !(job.shared && job.shared.length);
    var records = (job.stats && job.stats.recordsRead) || job.progress.done;
    setStatus(job.groups.length ? format(t.scan_done, { groups: job.groupsTotal, records: records })
                                : t.no_groups, job.groups.length ? "" : "ok");
    fit();
  }

  function startScan() {
    busy(true);
    setStatus("");
    $("groups").textContent = "";
    $("merge-bar").hidden = true;
    var body = { entityTypeId: context.entityTypeId };
    if (context.seedId) { body.seedId = context.seedId; }
    api("POST", "/api/scans", body).then(function (job) {
      currentJob = { kind: "scans", id: job.id };
      return poll("/api/scans/" + job.id, function (state) {
        showProgress(state.progress.done, state.progress.total, t.scanning);
      });
    }).then(function (job) {
      hideProgress();
      if (job.status === "done") { renderScan(job); }
      else if (job.status === "cancelled") { setStatus(t.cancelled); }
      else { setStatus(format(t.scan_failed, { message: job.error ? job.error.message : "" }), "error"); }
    }).catch(function (error) {
      hideProgress();
      setStatus(error.message, "error");
    }).then(function () {
      busy(false);
      currentJob = null;
      $("scan-button").textContent = t.scan_again;
    });
  }

  function selectedGroups() {
    var boxes = document.querySelectorAll(".group-select");
    var picked = [];
    boxes.forEach(function (box) {
      if (box.checked && !box.disabled) { picked.push(groupsById[box.dataset.ids].entityIds); }
    });
    return picked;
  }

  function askMerge() {
    var groups = selectedGroups();
    if (!groups.length) { setStatus(t.nothing_selected, "error"); return; }
    var deleted = groups.reduce(function (sum, ids) { return sum + ids.length - 1; }, 0);
    $("confirm-text").textContent = format(t.confirm_merge, { groups: groups.length, records: deleted });
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

  function renderResult(result) {
    var card = document.querySelector('.group[data-ids="' + result.entityIds.join(",") + '"]');
    if (!card) { return; }
    var box = card.querySelector(".group__result");
    box.textContent = "";
    if (result.status === "PENDING") { return; }
    card.dataset.result = result.status;
    var select = card.querySelector(".group-select");
    if (result.status === "SUCCESS") {
      box.appendChild(el("p", { className: "success", text: format(t.result_SUCCESS, { kept: result.keptId }) }));
      select.checked = false;
      select.disabled = true;
    } else if (result.status === "CONFLICT") {
      var button = el("button", { type: "button", className: "btn btn--primary resolve",
                                  "data-url": result.manualMergeUrl, text: t.resolve });
      button.addEventListener("click", function () { openInPortal(result.manualMergeUrl); });
      box.appendChild(el("p", { className: "warning", text: t.result_CONFLICT }));
      box.appendChild(button);
      select.checked = false;
    } else {
      box.appendChild(el("p", { className: "error-message",
        text: format(t.result_ERROR, { message: result.error ? result.error.message : "" }) }));
    }
  }

  function startMerge() {
    $("confirm").hidden = true;
    var groups = selectedGroups();
    busy(true);
    setStatus("");
    api("POST", "/api/merges", { entityTypeId: context.entityTypeId, groups: groups }).then(function (job) {
      currentJob = { kind: "merges", id: job.id };
      return poll("/api/merges/" + job.id, function (state) {
        showProgress(state.progress.done, state.progress.total, t.merging);
        state.results.forEach(renderResult);
      });
    }).then(function (job) {
      hideProgress();
      job.results.forEach(renderResult);
      if (job.status === "done") { setStatus(t.merge_done, "ok"); }
      else if (job.status === "cancelled") { setStatus(t.cancelled); }
      else { setStatus(format(t.merge_failed, { message: job.error ? job.error.message : "" }), "error"); }
      fit();
    }).catch(function (error) {
      hideProgress();
      setStatus(error.message, "error");
    }).then(function () {
      busy(false);
      currentJob = null;
    });
  }

  $("scan-button").addEventListener("click", startScan);
  $("merge-button").addEventListener("click", askMerge);
  $("confirm-yes").addEventListener("click", startMerge);
  $("confirm-no").addEventListener("click", function () { $("confirm").hidden = true; });
  $("select-all").addEventListener("change", function (event) {
    document.querySelectorAll(".group-select").forEach(function (box) {
      if (!box.disabled) { box.checked = event.target.checked; }
    });
  });
  $("cancel-button").addEventListener("click", function () {
    if (currentJob) { api("POST", "/api/" + currentJob.kind + "/" + currentJob.id + "/cancel", {}); }
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

  if (context.seedId) { startScan(); }
})();
