/* The Imports page and the Import tab: fetch the plugin's JSON API (same origin, Airflow's session cookie), render. */
"use strict";
const ImportStatus = (() => {
  const PREFIX = "/import-status/";
  const BASE = location.pathname.slice(0, location.pathname.indexOf(PREFIX));
  const API = BASE + PREFIX + "api/";
  const REFRESH_MS = 5000;
  const COUNTERS = ["total", "imported", "inserted", "updated", "unchanged", "deleted", "duplicates", "invalid",
    "failed", "opted_out"];

  const esc = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const enc = encodeURIComponent;
  const num = (value) => (value === null || value === undefined ? "–" : Number(value).toLocaleString("en"));
  const pct = (ratio) => (ratio === null || ratio === undefined ? "–" : `${(ratio * 100).toFixed(1)}%`);
  const time = (iso) => (iso
    ? `<time datetime="${esc(iso)}" title="${esc(iso)}">${esc(shortTime(iso))}</time>`
    : "–");
  // "2026-12-02T10:15:28.123+00:00" -> "12-02 10:15:28" (UTC, as the column headers say)
  const shortTime = (iso) => iso.replace(/^\d{4}-/, "").replace("T", " ").replace(/(\.\d+)?(\+00:00|Z)$/, "");
  const live = (row) => row.status === "waiting" || row.status === "running";

  async function api(path, params) {
    const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v !== null));
    const response = await fetch(`${API}${path}?${query}`, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  function showError(error) {
    const box = document.getElementById("error");
    box.hidden = !error;
    box.textContent = error ? String(error.message || error) : "";
  }

  function taskUrl(row) {
    const run = `${BASE}/dags/${enc(row.dag_id)}/runs/${enc(row.run_id)}`;
    return `${run}/tasks/${enc(row.task_id)}${row.map_index >= 0 ? `/mapped/${row.map_index}` : ""}`;
  }

  function progress(row) {
    const value = row.progress_percent;
    if (value === null || value === undefined) return live(row) ? '<span class="muted">no progress reported</span>' : "–";
    return `<div class="progress" data-testid="progress"><div class="bar"><div style="width:${Number(value)}%"></div></div>`
      + `<span>${Number(value)}%</span></div>`;
  }

  function gateText(gate) {
    if (!gate) return "no gate";
    const parts = [];
    if (gate.max_rejected_ratio !== null) parts.push(`≤ ${pct(gate.max_rejected_ratio)}`);
    if (gate.max_rejected !== null) parts.push(`≤ ${num(gate.max_rejected)}`);
    return parts.length ? `gate ${parts.join(" and ")}` : "no gate";
  }

  function overGate(row) {
    const gate = row.gate;
    if (!gate || row.rejected === null) return false;
    return (gate.max_rejected !== null && row.rejected > gate.max_rejected)
      || (gate.max_rejected_ratio !== null && row.rejected_ratio !== null && row.rejected_ratio > gate.max_rejected_ratio);
  }

  function badge(status) {
    return `<span class="badge ${esc(status)}" data-testid="status">${esc(status.replace("_", " "))}</span>`;
  }

  function consoleLink(row) {
    return row.console_url ? `<a href="${esc(row.console_url)}" target="_blank" rel="noopener noreferrer">Vendor console</a>` : "";
  }

  function rowHtml(row) {
    const dag = `${BASE}/dags/${enc(row.dag_id)}`;
    const since = row.status === "waiting" ? `<span class="muted">waiting since</span> ${time(row.waiting_since)}` : time(row.finished_at);
    const liveError = row.live && row.live.error ? `<div class="muted">${esc(row.live.error)}</div>` : "";
    return `<tr data-testid="import-row" data-dag-id="${esc(row.dag_id)}" data-run-id="${esc(row.run_id)}"
        data-task-id="${esc(row.task_id)}" data-status="${esc(row.status)}">
      <td>${esc(row.vendor)}</td>
      <td class="job">${esc(row.job_id)}</td>
      <td class="path"><a target="_top" href="${dag}">${esc(row.dag_id)}</a>
        <a target="_top" href="${dag}/runs/${enc(row.run_id)}">${esc(row.run_id)}</a>
        <a target="_top" href="${taskUrl(row)}">${esc(row.task_id)}${row.map_index >= 0 ? ` [${row.map_index}]` : ""}</a></td>
      <td>${badge(row.status)}${liveError}</td>
      <td>${progress(row)}</td>
      <td class="num" data-testid="total">${num(row.total)}</td>
      <td class="num" data-testid="imported">${num(row.imported)}</td>
      <td class="num" data-testid="rejected">${num(row.rejected)}</td>
      <td class="num"><span class="${overGate(row) ? "over" : ""}">${pct(row.rejected_ratio)}</span>
        <div class="muted">${gateText(row.gate)}</div></td>
      <td>${time(row.started_at)}</td>
      <td>${since}</td>
      <td>${time(row.deadline)}</td>
      <td>${consoleLink(row)}</td>
    </tr>`;
  }

  function fillSelect(select, values, current) {
    const options = ['<option value="">all</option>', ...values.map((v) => `<option value="${esc(v)}">${esc(v.replace("_", " "))}</option>`)];
    select.innerHTML = options.join("");
    select.value = values.includes(current) ? current : "";
  }

  function importsPage() {
    const form = document.getElementById("filters");
    const params = new URLSearchParams(location.search);
    const filters = { vendor: params.get("vendor") || "", state: params.get("state") || "", dag_id: params.get("dag_id") || "" };
    const pageSize = Number(params.get("limit")) || 25;
    let offset = 0;
    let timer = null;

    async function load() {
      clearTimeout(timer);
      try {
        const data = await api("imports", { ...filters, limit: pageSize, offset });
        fillSelect(form.vendor, data.vendors, filters.vendor);
        fillSelect(form.state, data.states, filters.state);
        fillSelect(form.dag_id, data.dag_ids, filters.dag_id);
        document.getElementById("rows").innerHTML = data.imports.length
          ? data.imports.map(rowHtml).join("")
          : '<tr><td colspan="13" class="muted">No imports.</td></tr>';
        const last = Math.min(data.total, offset + data.imports.length);
        document.getElementById("range").textContent = data.total ? `${offset + 1}–${last} of ${data.total}` : "0 of 0";
        document.getElementById("prev").disabled = offset === 0;
        document.getElementById("next").disabled = last >= data.total;
        showError(null);
      } catch (error) {
        showError(error);
      }
      timer = setTimeout(load, REFRESH_MS);
    }

    form.addEventListener("change", (event) => {
      filters[event.target.name] = event.target.value;
      offset = 0;
      load();
    });
    document.getElementById("prev").addEventListener("click", () => { offset = Math.max(0, offset - pageSize); load(); });
    document.getElementById("next").addEventListener("click", () => { offset += pageSize; load(); });
    load();
  }

  function cardHtml(row, result) {
    const counters = COUNTER_FIELDS_WITH_REJECTED.map((name) => {
      const value = name === "rejected" ? row.rejected : result ? result[name] : row[name];
      return `<div class="counter" data-testid="counter-${name}"><span class="muted">${name.replace("_", " ")}</span><b>${num(value)}</b></div>`;
    }).join("");
    const facts = [
      ["Vendor status", esc(row.vendor_status ?? (result && result.vendor_status) ?? "–")],
      ["Rejected / gate", `<span class="${overGate(row) ? "over" : ""}">${pct(row.rejected_ratio)}</span> (${gateText(row.gate)})`],
      ["Started", time(row.started_at)],
      [row.status === "waiting" ? "Waiting since" : "Finished", time(row.status === "waiting" ? row.waiting_since : row.finished_at)],
    ];
    if (row.deadline) facts.push(["Deadline", time(row.deadline)]);
    if (row.live) facts.push(["Live status", row.live.error ? `<span class="error" data-testid="live-error">${esc(row.live.error)}</span>`
      : `polled ${time(row.live.polled_at)} (${esc(row.live.state)})`]);
    if (result && result.message) facts.push(["Message", `<span class="message">${esc(result.message)}</span>`]);
    const warnings = result && result.warnings.length
      ? `<h2>Warnings</h2><ul>${result.warnings.map((w) => `<li>${esc(w)}</li>`).join("")}</ul>` : "";
    const details = result && Object.keys(result.details).length
      ? `<h2>Details</h2><dl class="facts">${Object.entries(result.details)
        .map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(Array.isArray(v) ? v.join(", ") : v)}</dd>`).join("")}</dl>` : "";
    return `<header><h2>${esc(row.vendor)} import ${esc(row.job_id)}</h2>${badge(row.status)}${consoleLink(row)}</header>
      ${live(row) ? progress(row) : ""}
      <div class="counters">${counters}</div>
      <dl class="facts">${facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("")}</dl>
      ${warnings}${details}`;
  }
  const COUNTER_FIELDS_WITH_REJECTED = [...COUNTERS, "rejected"];

  function refusedHtml(summary) {
    // rejected_records_path: counts, masked reasons and the path only; the records stay in the file
    if (!summary) return "";
    const sources = Object.entries(summary.by_source).map(([k, v]) => `${esc(k)} ${num(v)}`).join(", ");
    const reasons = summary.top_reasons.length
      ? `<ol data-testid="refused-reasons">${summary.top_reasons
        .map((r) => `<li>${esc(r.reason)} <span class="muted">(${num(r.count)})</span></li>`).join("")}</ol>` : "";
    return `<h2>Refused records</h2><dl class="facts" data-testid="refused-records">
      <dt>File</dt><dd><code data-testid="refused-path">${esc(summary.path)}</code></dd>
      <dt>Records</dt><dd>${num(summary.count)} (${sources})${summary.truncated ? " – cut at max_rejected_records" : ""}</dd>
      ${summary.error ? `<dt>Listing</dt><dd class="error">${esc(summary.error)}</dd>` : ""}</dl>${reasons}`;
  }

  function barChart(title, runs, value, color, withThreshold) {
    const width = 420, height = 150, pad = 28, n = Math.max(runs.length, 1);
    const values = runs.map((r) => value(r) ?? 0);
    const thresholds = withThreshold ? runs.map((r) => r.threshold) : [];
    const top = Math.max(1, ...values, ...thresholds.filter((t) => t !== null));
    const y = (v) => height - pad - (v / top) * (height - 2 * pad);
    const slot = (width - 2 * pad) / n;
    const bars = runs.map((r, i) => {
      const v = value(r);
      const x = pad + i * slot + slot * 0.15;
      const h = v === null ? 0 : height - pad - y(v);
      return `<rect x="${x.toFixed(1)}" y="${(height - pad - h).toFixed(1)}" width="${(slot * 0.7).toFixed(1)}" height="${h.toFixed(1)}"
        fill="${color}"><title>${esc(r.run_id)}: ${num(v)} (${esc(r.status)})</title></rect>`;
    }).join("");
    const line = thresholds.map((t, i) => (t === null ? "" :
      `<line data-testid="threshold" x1="${(pad + i * slot).toFixed(1)}" x2="${(pad + (i + 1) * slot).toFixed(1)}"
        y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#e53e3e" stroke-width="2" stroke-dasharray="4 3"><title>gate: ${num(Math.floor(t))}</title></line>`)).join("");
    return `<svg role="img" aria-label="${esc(title)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
      <text x="${pad}" y="16" font-size="12" fill="currentColor">${esc(title)}</text>
      <text x="${pad - 4}" y="${y(top) + 4}" font-size="10" text-anchor="end" fill="currentColor">${num(top)}</text>
      <text x="${pad - 4}" y="${height - pad + 4}" font-size="10" text-anchor="end" fill="currentColor">0</text>
      <line x1="${pad}" x2="${width - pad}" y1="${height - pad}" y2="${height - pad}" stroke="currentColor" stroke-opacity=".3"/>
      ${bars}${line}</svg>`;
  }

  function historyHtml(runs) {
    if (!runs.length) return "";
    const gated = runs.some((r) => r.threshold !== null);
    return `<h2>Last ${runs.length} imports of this task</h2><div class="charts">
      ${barChart("Imported records", runs, (r) => r.imported, "#38a169", false)}
      ${barChart("Rejected records (invalid + failed)", runs, (r) => r.rejected, "#e53e3e", true)}</div>
      <p class="legend">Oldest to newest; ${gated ? "dashed line: the most rejected records the gate lets through." : "no gate recorded for these runs."}</p>`;
  }

  function taskInstancePage() {
    const params = new URLSearchParams(location.search);
    // the UI leaves {MAP_INDEX} unfilled on a task instance that is not mapped
    const mapIndex = Number.parseInt(params.get("map_index"), 10);
    const ti = { dag_id: params.get("dag_id"), run_id: params.get("run_id"), task_id: params.get("task_id"),
      map_index: Number.isNaN(mapIndex) ? -1 : mapIndex };
    let timer = null;

    async function load() {
      clearTimeout(timer);
      try {
        const [data, history] = await Promise.all([
          api("task-instance", ti),
          api("history", { dag_id: ti.dag_id, task_id: ti.task_id }),
        ]);
        const card = document.getElementById("card");
        card.innerHTML = data.import ? cardHtml(data.import, data.result) + refusedHtml(data.rejected_records)
          : '<p class="muted" data-testid="no-import">This task instance has no import: it is not an import task, or it has not waited yet.</p>';
        document.getElementById("history").innerHTML = historyHtml(history.runs);
        showError(null);
        if (!data.import || live(data.import)) timer = setTimeout(load, REFRESH_MS);
      } catch (error) {
        showError(error);
        timer = setTimeout(load, REFRESH_MS);
      }
    }
    load();
  }

  return { importsPage, taskInstancePage };
})();
