// fila's dashboard. It polls the API every few seconds with the browser's
// HTTP Basic credentials and draws what it answers: /ops for everyone with
// the reader role (the overview, TAF tickets and errors, EAI lots, process
// jobs), /admin for admins (a 403 there turns the admin sections into a
// note), and the API's /metrics for the intake rate. Everything is built
// with textContent, never HTML strings: the data comes from outside.
"use strict";

const POLL_MS = 2000;
/** Samples the charts keep: four minutes at one poll every 2 s. */
const HISTORY = 120;
const SVG_NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2"];
const RUN_STATUSES = ["waiting", "running", "succeeded", "failed", "cancelled"];

const state = {
  admin: null, // unknown until /admin answers 200 or 403
  accepted: [], // [{t, values: {protocol: items/s}}]
  depth: [], // [{t, values: {queue: ready}}]
  intake: null, // the last {t, totals} read from /metrics
  drill: null, // {ticket, code} of the open error list; ticket null: the last hour's
  errorsLastHour: {}, // the overview's TAF errors of the last hour, by code
  lotsOpen: false, // EAI lots: only those with messages pending
  jobStatus: null, // process jobs: only those whose latest run has this status
  refreshes: 0, // refreshes started: an older one that ends late draws nothing
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
/** Messages per second; absent or null when fila has no RabbitMQ management URL. */
const rate = (r) => (typeof r === "number" ? r.toLocaleString("en", { maximumFractionDigits: 1 }) : "—");

/** Whether what `id` shows would change with `data` (and the page's state). */
function changed(id, data) {
  const key = JSON.stringify([data, state.admin, state.drill, state.lotsOpen, state.jobStatus]);
  if (state.rendered.get(id) === key) return false;
  state.rendered.set(id, key);
  return true;
}

/** Replaces the rows of a table body when `data` differs from last time. */
function rows(id, data, row, empty) {
  if (!changed(id, data)) return;
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
    // Draw every list anew, even one whose data did not change: this
    // button was disabled while its call ran.
    state.rendered.clear();
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

const sum = (byKey) => Object.values(byKey).reduce((a, b) => a + b, 0);

function renderSummary(o) {
  const cards = [
    ["TAF records pending", count(o.taf.pending)],
    ["TAF waiting (order)", count(o.taf.waiting)],
    ["Oldest open TAF record", seconds(o.taf.oldestOpenSeconds)],
    ["TAF processed / errors, last hour", `${count(o.taf.processedLastHour)} / ${count(sum(o.taf.errorsLastHour))}`],
    ["EAI messages pending", count(o.eai.pending)],
    ["EAI OK / errors, last hour", `${count(o.eai.okLastHour)} / ${count(o.eai.errorsLastHour)}`],
    ["Processes waiting / running", `${count(o.process.waiting)} / ${count(o.process.running)}`],
    ["Processes succeeded / failed, last hour", `${count(o.process.succeededLastHour)} / ${count(o.process.failedLastHour)}`],
    ["Outbox rows / refused by the broker", `${count(o.outbox.rows)} / ${count(o.outbox.held)}`],
    ["Dead letters", count(sum(o.deadLetters))],
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
      h("td", { class: "num" }, rate(q.publishRate)),
      h("td", { class: "num" }, rate(q.deliverRate)),
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

/** The finished share of `total` items: those done well, then those in error. */
function progressBar(label, total, done, failed, testid) {
  const share = (n) => (total ? (100 * n) / total : 0);
  const percent = Math.floor(share(done + failed));
  const good = h("div", { class: "fill" });
  const bad = h("div", { class: "fill failed" });
  good.style.width = `${share(done)}%`;
  bad.style.width = `${share(failed)}%`;
  return h(
    "div",
    { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": percent, "aria-label": label },
    h("div", { class: "track" }, good, bad),
    h("span", { "data-testid": testid }, `${percent}%`),
  );
}

function renderTickets(tickets) {
  rows("tickets", tickets, (t) => h(
    "tr",
    { "data-testid": "ticket-row", "data-ticket": t.ticketCode, class: state.drill && state.drill.ticket === t.ticketCode ? "selected" : "" },
    h("th", { scope: "row" }, t.ticketCode),
    h("td", {}, time(t.acceptedAt)),
    h("td", { class: "num" }, count(t.records)),
    h("td", {}, progressBar(`Ticket ${t.ticketCode}`, t.records, t.processed, t.error, "ticket-progress")),
    h("td", { class: "num" }, count(t.processed)),
    h("td", { class: "num" }, t.error ? h("button", { type: "button", class: "link", "data-testid": "ticket-errors", onclick: () => openErrors(t.ticketCode, null) }, `${count(t.error)} ›`) : "0"),
    h("td", { class: "num" }, count(t.pending + t.waiting)),
    h("td", {}, t.error ? action("Retry errors", "ticket-retry", { path: `/admin/taf/tickets/${encodeURIComponent(t.ticketCode)}/retry` }, `Retry the records in error of ${t.ticketCode}?`) : null),
  ), "No TAF lots among the latest records");
}

function renderErrorCodes(byCode) {
  if (!changed("error-codes", byCode)) return;
  const entries = Object.entries(byCode).sort((a, b) => b[1] - a[1]);
  const max = Math.max(1, ...entries.map(([, n]) => n));
  const items = entries.map(([code, n]) => {
    const bar = h("span", { class: "bar" });
    bar.style.width = `${(100 * n) / max}%`;
    const open = h("button", { type: "button", class: "link code", "data-testid": "error-code-open", title: `List the records that ended in error ${code || "without a code"} in the last hour`, onclick: () => openErrors(null, code) }, code || "—");
    return h("li", { "data-testid": "error-code", "data-code": code }, open, h("span", { class: "track" }, bar), h("span", { class: "num" }, count(n)));
  });
  $("error-codes").replaceChildren(...(items.length ? items : [h("li", { class: "empty" }, "No TAF record ended in error in the last hour")]));
}

/**
 * Opens the records in error of a ticket, or those of every ticket that
 * ended in error in the last hour (`ticket` null); of one code or all.
 */
async function openErrors(ticket, code) {
  state.drill = { ticket, code };
  state.rendered.delete("tickets");
  await loadErrors();
  $("records-section").hidden = false;
  $("records-section").scrollIntoView({ behavior: "smooth", block: "nearest" });
}

/** Draws the open list of records in error; each refresh draws it again. */
async function loadErrors() {
  const drill = state.drill;
  const base = drill.ticket ? `/ops/taf/tickets/${encodeURIComponent(drill.ticket)}/errors` : "/ops/taf/errors";
  try {
    const [all, shown] = await Promise.all([
      json(base),
      drill.code ? json(`${base}?code=${encodeURIComponent(drill.code)}`) : null,
    ]);
    if (state.drill !== drill) return; // closed, or another list opened meanwhile
    let codes = state.errorsLastHour;
    if (drill.ticket) {
      codes = {};
      for (const r of all.records) codes[r.errorCode] = (codes[r.errorCode] || 0) + 1;
    }
    $("records-title").textContent = drill.ticket ? `of ${drill.ticket}` : "in the last hour, every ticket";
    if (changed("records-codes", [codes, all.next == null])) {
      const chip = (c, label) => h("button", { type: "button", "aria-pressed": String(c === drill.code), onclick: () => openErrors(drill.ticket, c) }, label);
      $("records-codes").replaceChildren(
        chip(null, all.next == null ? "All" : "All (first 100)"),
        ...Object.entries(codes).filter(([c]) => c).map(([c, n]) => chip(c, `${c} × ${count(n)}`)),
      );
    }
    rows("records", (shown || all).records, (r) => h(
      "tr",
      { "data-testid": "error-record", "data-rec-no": r.recNo },
      h("td", { class: "num" }, r.recNo),
      h("td", {}, r.ticketCode || drill.ticket),
      h("td", {}, r.registryKey),
      h("td", {}, r.sourceBranch),
      h("td", {}, r.registryType),
      h("td", {}, r.errorCode || "—"),
      h("td", { class: "reason", title: r.errorDetail || "" }, r.errorDescription || "—"),
      h("td", {}, action("Retry", "record-retry", { path: `/admin/taf/records/${encodeURIComponent(r.recNo)}/retry` })),
    ), drill.ticket ? "No records in error" : "No records of this code ended in error in the last hour");
  } catch (e) {
    notify(`Records in error ${drill.ticket ? `of ${drill.ticket}` : "of the last hour"}: ${e.message}`, true);
  }
}

/** Filter buttons: `options` as [value, label], the pressed one `current`. */
function filters(id, options, current, pick) {
  if (!changed(id, [options, current])) return;
  $(id).replaceChildren(...options.map(([value, label]) => h("button", { type: "button", "aria-pressed": String(value === current), onclick: () => pick(value) }, label)));
}

function renderFilters() {
  filters("lots-filter", [[false, "All"], [true, "With messages pending"]], state.lotsOpen, (open) => {
    state.lotsOpen = open;
    renderFilters();
    refresh();
  });
  filters("jobs-filter", [[null, "All"], ...RUN_STATUSES.map((s) => [s, s])], state.jobStatus, (status) => {
    state.jobStatus = status;
    renderFilters();
    refresh();
  });
}

function renderLots(lots) {
  rows("eai-lots", lots, (l) => h(
    "tr",
    { "data-testid": "eai-lot", "data-batch": l.batch },
    h("th", { scope: "row", class: "id", title: l.batch }, l.batch),
    h("td", {}, time(l.createdAt)),
    h("td", {}, l.batchType),
    h("td", {}, l.event),
    h("td", { class: "num" }, count(l.messages)),
    h("td", {}, progressBar(`Lot ${l.batch}`, l.messages, l.ok, l.error, "lot-progress")),
    h("td", { class: "num" }, count(l.ok)),
    h("td", { class: l.error ? "num bad" : "num" }, count(l.error)),
    h("td", { class: "num" }, count(l.pending)),
  ), state.lotsOpen ? "No EAI lot has messages pending" : "No EAI lots yet");
}

function renderJobs(jobs) {
  rows("jobs", jobs, (j) => {
    const run = j.lastExecution;
    const schedule = j.cron ? [h("code", {}, j.cron), ` ${j.scheduleState || ""}`] : ["once"];
    return h(
      "tr",
      { "data-testid": "job-row", "data-job": j.jobId, "data-status": run ? run.status : "" },
      h("th", { scope: "row", class: "num" }, j.jobId),
      h("td", {}, j.process),
      h("td", {}, time(j.createdAt)),
      h("td", { title: j.nextFire ? `next fire ${time(j.nextFire)}` : "" }, ...schedule),
      h("td", { class: "num" }, count(j.executions)),
      h("td", { class: `status ${run ? run.status : ""}`, "data-testid": "job-status" }, run ? run.status : "not run yet"),
      h("td", { class: "num" }, run && run.progress >= 0 ? `${run.progress}%` : "—"),
      h("td", {}, time(run && run.startedAt)),
      h("td", {}, time(run && run.finishedAt)),
      h("td", { class: "reason", title: run ? run.message : "" }, run && run.message ? run.message : "—"),
    );
  }, state.jobStatus ? `No recent job's latest run is ${state.jobStatus}` : "No process jobs yet");
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
  const run = ++state.refreshes;
  try {
    const lots = state.lotsOpen ? "&status=open" : "";
    const jobs = state.jobStatus ? `&status=${state.jobStatus}` : "";
    const [overview, tickets, lotPage, jobPage, metrics] = await Promise.all([
      json("/ops/overview"),
      json("/ops/taf/tickets?limit=15"),
      json(`/ops/eai/batches?limit=10${lots}`),
      json(`/ops/process/jobs?limit=15${jobs}`),
      call("/metrics").then((r) => r.text()),
      state.admin === false ? null : refreshAdmin(),
    ]);
    if (run !== state.refreshes) return; // a newer refresh draws, and polls on
    state.errorsLastHour = overview.taf.errorsLastHour;
    renderSummary(overview);
    renderQueues(overview.queues);
    renderTickets(tickets.tickets);
    renderErrorCodes(overview.taf.errorsLastHour);
    renderLots(lotPage.batches);
    renderJobs(jobPage.jobs);
    if (state.drill) await loadErrors();
    recordIntake(metrics);
    sample(state.depth, Object.fromEntries(overview.queues.map((q) => [q.queue, q.ready || 0])));
    drawChart("chart-accepted", state.accepted, "/s");
    drawChart("chart-depth", state.depth, "");
    const notice = state.notice && state.notice.until > Date.now() ? state.notice : null;
    const role = state.admin === false ? " · read-only (reader role)" : "";
    showStatus(`Updated ${new Date().toLocaleTimeString("en-GB")}${role}${notice ? ` · ${notice.text}` : ""}`, Boolean(notice && notice.error));
  } catch (e) {
    if (run !== state.refreshes) return;
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
  renderFilters();
  refresh();
});
