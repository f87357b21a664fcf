// fila's dashboard. It polls the API every few seconds with the browser's
// HTTP Basic credentials and draws what it answers: /ops for everyone with
// the reader role, /admin for admins (a 403 there turns the admin sections
// into a note), and the API's /metrics for the intake rate. Everything is
// built with textContent, never HTML strings: the data comes from outside.
"use strict";

const POLL_MS = 2000;
/** Samples the charts keep: four minutes at one poll every 2 s. */
const HISTORY = 120;
const SVG_NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2"];

const state = {
  admin: null, // unknown until /admin answers 200 or 403
  accepted: [], // [{t, values: {protocol: items/s}}]
  depth: [], // [{t, values: {queue: ready}}]
  intake: null, // the last {t, totals} read from /metrics
  drill: null, // {ticket, code} of the open error list
  notice: null, // {text, error, until}: the outcome of the last action
  rendered: new Map(), // what each section last drew, to redraw only changes
};

const $ = (id) => document.getElementById(id);

/** An element with attributes and children (strings become text). */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else if (value !== false && value != null) node.setAttribute(name, value);
  }
  node.append(...children.filter((c) => c != null).map((c) => (c instanceof Node ? c : String(c))));
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(path, method = "GET") {
  const response = await fetch(path, { method, headers: { Accept: "application/json" } });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new HttpError(response.status, body.message || `${method} ${path}: HTTP ${response.status}`);
  }
  return response;
}

const json = async (path, method) => (await call(path, method)).json();
const count = (n) => (n == null ? "—" : Number(n).toLocaleString("en"));
const time = (iso) => (iso ? new Date(iso).toLocaleString("en-GB") : "—");
const seconds = (s) => (s == null ? "—" : s < 120 ? `${s.toFixed(1)} s` : `${Math.round(s / 60)} min`);

/** Replaces the rows of a table body when `data` differs from last time. */
function rows(id, data, row, empty) {
  const key = JSON.stringify([data, state.admin, state.drill]);
  if (state.rendered.get(id) === key) return;
  state.rendered.set(id, key);
  const items = data.map(row);
  const columns = $(id).closest("table").querySelectorAll("thead th").length;
  $(id).replaceChildren(...(items.length ? items : [h("tr", {}, h("td", { colspan: columns, class: "empty" }, empty))]));
}

/** A button for an admin action; disabled, with the reason, for others. */
function action(label, testid, run, confirmation) {
  const button = h("button", { type: "button", "data-testid": testid, disabled: state.admin !== true }, label);
  if (state.admin !== true) button.title = "Needs the admin role";
  button.addEventListener("click", async () => {
    if (confirmation && !window.confirm(confirmation)) return;
    button.disabled = true;
    try {
      await call(run.path, "POST");
      notify(`${label}: done`, false);
    } catch (e) {
      notify(`${label} failed: ${e.message}`, true);
    }
    refresh();
  });
  return button;
}

function showStatus(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

/** Shows the outcome of an action beside the refresh time for 10 s. */
function notify(text, error) {
  state.notice = { text, error, until: Date.now() + 10000 };
  showStatus(text, error);
}

function renderSummary(o) {
  const cards = [
    ["TAF records pending", count(o.taf.pending)],
    ["TAF waiting (order)", count(o.taf.waiting)],
    ["Oldest open TAF record", seconds(o.taf.oldestOpenSeconds)],
    ["EAI messages pending", count(o.eai.pending)],
    ["Processes waiting / running", `${count(o.process.waiting)} / ${count(o.process.running)}`],
    ["Outbox rows", count(o.outbox.rows)],
    ["Dead letters", count(Object.values(o.deadLetters).reduce((a, b) => a + b, 0))],
  ];
  $("summary").replaceChildren(...cards.map(([label, value]) => h("div", {}, h("dt", {}, label), h("dd", {}, value))));
}

function renderQueues(queues) {
  rows("queues", queues, (q) => {
    const verb = q.paused ? "resume" : "pause";
    const since = q.paused ? `paused ${time(q.pausedAt)}${q.pausedBy ? ` by ${q.pausedBy}` : ""}` : "consuming";
    return h(
      "tr",
      { "data-testid": "queue-row", "data-queue": q.queue },
      h("th", { scope: "row" }, q.queue),
      h("td", { class: "num" }, count(q.ready)),
      h("td", { class: "num" }, count(q.consumers)),
      h("td", { class: q.paused ? "warn" : "" }, since),
      h("td", {}, action(q.paused ? "Resume" : "Pause", `queue-${verb}`, { path: `/admin/queues/${encodeURIComponent(q.queue)}/${verb}` })),
    );
  }, "No work queues");
}

/** Sums `fila_intake_items_total` of accepted items by protocol. */
function acceptedTotals(text) {
  const totals = {};
  for (const line of text.split("\n")) {
    const m = line.match(/^fila_intake_items_total\{([^}]*)\}\s+(\S+)/);
    if (!m || !/outcome="accepted"/.test(m[1])) continue;
    const protocol = (m[1].match(/protocol="([^"]*)"/) || [])[1] || "?";
    totals[protocol] = (totals[protocol] || 0) + Number(m[2]);
  }
  return totals;
}

function sample(history, values) {
  history.push({ t: Date.now(), values });
  if (history.length > HISTORY) history.shift();
}

function recordIntake(text) {
  const now = { t: Date.now(), totals: acceptedTotals(text) };
  const last = state.intake;
  state.intake = now;
  if (!last) return;
  const elapsed = (now.t - last.t) / 1000;
  const rates = {};
  for (const protocol of ["taf", "eai", "process"]) {
    const delta = (now.totals[protocol] || 0) - (last.totals[protocol] || 0);
    rates[protocol] = Math.max(0, delta) / elapsed; // a restarted API counts from 0
  }
  sample(state.accepted, rates);
}

/** A line chart of `history` (one series per key), with its legend. */
function drawChart(id, history, unit) {
  const node = $(id);
  const [w, h2, left, bottom] = [560, 190, 44, 30];
  node.setAttribute("viewBox", `0 0 ${w} ${h2}`);
  const names = [...new Set(history.flatMap((s) => Object.keys(s.values)))].sort();
  const max = Math.max(1, ...history.flatMap((s) => Object.values(s.values)));
  const top = niceCeiling(max);
  // The samples span the width: since the page opened, up to HISTORY.
  const x = (i) => left + ((w - left - 8) * i) / Math.max(1, history.length - 1);
  const y = (v) => 8 + (h2 - bottom - 8) * (1 - v / top);
  const parts = [];
  for (const v of [0, top / 2, top]) {
    parts.push(svg("line", { x1: left, x2: w - 8, y1: y(v), y2: y(v), class: "grid" }));
    const label = svg("text", { x: left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" });
    label.textContent = Number(v.toFixed(1)).toLocaleString("en");
    parts.push(label);
  }
  if (history.length > 1) {
    const age = Math.round((history[history.length - 1].t - history[0].t) / 1000);
    for (const [at, text, anchor] of [[left, `${age} s ago`, "start"], [w - 8, "now", "end"]]) {
      const label = svg("text", { x: at, y: h2 - bottom + 12, class: "axis", "text-anchor": anchor });
      label.textContent = text;
      parts.push(label);
    }
  }
  let legendX = left + 8;
  names.forEach((name, n) => {
    const points = history.map((s, i) => `${x(i).toFixed(1)},${y(s.values[name] || 0).toFixed(1)}`);
    const color = PALETTE[n % PALETTE.length];
    parts.push(svg("polyline", { points: points.join(" "), fill: "none", stroke: color, "stroke-width": 2 }));
    const latest = history.length ? history[history.length - 1].values[name] || 0 : 0;
    const legend = svg("text", { x: legendX, y: h2 - 3, class: "legend", fill: color });
    legend.textContent = `■ ${name} ${Number(latest.toFixed(1)).toLocaleString("en")}${unit}`;
    legendX += legend.textContent.length * 7.5 + 18;
    parts.push(legend);
  });
  if (!history.length) {
    const wait = svg("text", { x: w / 2, y: h2 / 2, class: "axis", "text-anchor": "middle" });
    wait.textContent = "collecting…";
    parts.push(wait);
  }
  node.replaceChildren(...parts);
}

function niceCeiling(v) {
  const step = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * step).find((c) => c >= v);
}

function progressBar(t) {
  const share = (n) => (t.records ? (100 * n) / t.records : 0);
  const percent = Math.floor(share(t.processed + t.error));
  const processed = h("div", { class: "fill" });
  const failed = h("div", { class: "fill failed" });
  processed.style.width = `${share(t.processed)}%`;
  failed.style.width = `${share(t.error)}%`;
  return h(
    "div",
    { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": percent, "aria-label": `Ticket ${t.ticketCode}` },
    h("div", { class: "track" }, processed, failed),
    h("span", { "data-testid": "ticket-progress" }, `${percent}%`),
  );
}

function renderTickets(tickets) {
  rows("tickets", tickets, (t) => h(
    "tr",
    { "data-testid": "ticket-row", "data-ticket": t.ticketCode, class: state.drill && state.drill.ticket === t.ticketCode ? "selected" : "" },
    h("th", { scope: "row" }, t.ticketCode),
    h("td", {}, time(t.acceptedAt)),
    h("td", { class: "num" }, count(t.records)),
    h("td", {}, progressBar(t)),
    h("td", { class: "num" }, count(t.processed)),
    h("td", { class: "num" }, t.error ? h("button", { type: "button", class: "link", "data-testid": "ticket-errors", onclick: () => openErrors(t.ticketCode, null) }, `${count(t.error)} ›`) : "0"),
    h("td", { class: "num" }, count(t.pending + t.waiting)),
    h("td", {}, t.error ? action("Retry errors", "ticket-retry", { path: `/admin/taf/tickets/${encodeURIComponent(t.ticketCode)}/retry` }, `Retry the records in error of ${t.ticketCode}?`) : null),
  ), "No TAF lots among the latest records");
}

function renderErrorCodes(byCode) {
  const entries = Object.entries(byCode).sort((a, b) => b[1] - a[1]);
  const max = Math.max(1, ...entries.map(([, n]) => n));
  const items = entries.map(([code, n]) => {
    const bar = h("span", { class: "bar" });
    bar.style.width = `${(100 * n) / max}%`;
    return h("li", { "data-testid": "error-code", "data-code": code }, h("span", { class: "code" }, code), h("span", { class: "track" }, bar), h("span", { class: "num" }, count(n)));
  });
  $("error-codes").replaceChildren(...(items.length ? items : [h("li", { class: "empty" }, "No TAF record ended in error in the last hour")]));
}

/** Lists the records in error of a ticket, of one code or all. */
async function openErrors(ticket, code) {
  state.drill = { ticket, code };
  const query = code ? `?code=${encodeURIComponent(code)}` : "";
  try {
    const [all, shown] = await Promise.all([
      json(`/ops/taf/tickets/${encodeURIComponent(ticket)}/errors`),
      code ? json(`/ops/taf/tickets/${encodeURIComponent(ticket)}/errors${query}`) : null,
    ]);
    const records = (shown || all).records;
    const codes = {};
    for (const r of all.records) codes[r.errorCode] = (codes[r.errorCode] || 0) + 1;
    const chip = (c, label) => h("button", { type: "button", "aria-pressed": String(c === code), onclick: () => openErrors(ticket, c) }, label);
    $("records-ticket").textContent = ticket;
    $("records-codes").replaceChildren(
      chip(null, all.next == null ? "All" : "All (first 100)"),
      ...Object.entries(codes).map(([c, n]) => chip(c, `${c} × ${n}`)),
    );
    state.rendered.delete("records");
    rows("records", records, (r) => h(
      "tr",
      { "data-testid": "error-record" },
      h("td", { class: "num" }, r.recNo),
      h("td", {}, r.registryKey),
      h("td", {}, r.sourceBranch),
      h("td", {}, r.registryType),
      h("td", {}, r.errorCode || "—"),
      h("td", { title: r.errorDetail || "" }, r.errorDescription || "—"),
    ), "No records in error");
    $("records-section").hidden = false;
    $("records-section").scrollIntoView({ behavior: "smooth", block: "nearest" });
  } catch (e) {
    notify(`Records in error of ${ticket}: ${e.message}`, true);
  }
  state.rendered.delete("tickets");
}

function renderDeadLetters(letters) {
  rows("dead-letters", letters, (d) => h(
    "tr",
    { "data-testid": "dead-letter", "data-id": d.id },
    h("td", { class: "num" }, d.id),
    h("td", {}, time(d.deadAt)),
    h("td", {}, d.queue),
    h("td", {}, d.kind || "—"),
    h("td", { class: "num" }, d.attempts),
    h("td", { class: "reason", title: d.reason }, d.reason),
    h("td", {}, action("Replay", "replay", { path: `/admin/dead-letters/${d.id}/replay` }, `Send dead letter ${d.id} back to ${d.queue}?`)),
  ), state.admin === false ? "Hidden: needs the admin role" : "No dead letters");
}

function renderSchedules(schedules) {
  rows("schedules", schedules, (s) => {
    const verb = s.state === "paused" ? "resume" : "pause";
    return h(
      "tr",
      { "data-testid": "schedule-row" },
      h("th", { scope: "row" }, s.process),
      h("td", {}, s.jobId),
      h("td", {}, h("code", {}, s.quartzDef)),
      h("td", { class: s.state === "paused" ? "warn" : "" }, s.state),
      h("td", {}, time(s.nextFire)),
      h("td", { class: "num" }, count(s.fires)),
      h("td", {}, action(verb === "pause" ? "Pause" : "Resume", `schedule-${verb}`, { path: `/admin/schedules/${encodeURIComponent(s.uid)}/${verb}` })),
    );
  }, state.admin === false ? "Hidden: needs the admin role" : "No active or paused schedules");
}

/** The admin sections: an empty list and a note for a non-admin. */
async function refreshAdmin() {
  try {
    const [letters, schedules] = await Promise.all([json("/admin/dead-letters?limit=50"), json("/admin/schedules")]);
    state.admin = true;
    renderDeadLetters(letters.deadLetters);
    renderSchedules(schedules.schedules.filter((s) => s.state !== "ended"));
  } catch (e) {
    if (!(e instanceof HttpError && e.status === 403)) throw e;
    state.admin = false;
    renderDeadLetters([]);
    renderSchedules([]);
  }
  for (const note of document.querySelectorAll("[data-admin-note]")) note.hidden = state.admin !== false;
}

let timer = null;

async function refresh() {
  clearTimeout(timer);
  if (document.hidden) {
    timer = setTimeout(refresh, POLL_MS);
    return;
  }
  try {
    const [overview, tickets, metrics] = await Promise.all([
      json("/ops/overview"),
      json("/ops/taf/tickets?limit=15"),
      call("/metrics").then((r) => r.text()),
      state.admin === false ? null : refreshAdmin(),
    ]);
    renderSummary(overview);
    renderQueues(overview.queues);
    renderTickets(tickets.tickets);
    renderErrorCodes(overview.taf.errorsLastHour);
    recordIntake(metrics);
    sample(state.depth, Object.fromEntries(overview.queues.map((q) => [q.queue, q.ready || 0])));
    drawChart("chart-accepted", state.accepted, "/s");
    drawChart("chart-depth", state.depth, "");
    const notice = state.notice && state.notice.until > Date.now() ? state.notice : null;
    const role = state.admin === false ? " · read-only (reader role)" : "";
    showStatus(`Updated ${new Date().toLocaleTimeString("en-GB")}${role}${notice ? ` · ${notice.text}` : ""}`, Boolean(notice && notice.error));
  } catch (e) {
    showStatus(`Cannot reach fila: ${e.message}`, true);
  }
  timer = setTimeout(refresh, POLL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  $("records-close").addEventListener("click", () => {
    state.drill = null;
    $("records-section").hidden = true;
    state.rendered.delete("tickets");
    refresh();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
  });
  refresh();
});
