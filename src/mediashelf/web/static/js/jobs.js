// /jobs: tiles and table refreshed every 5 s, the scan form, row actions, and the job modal.
import { api } from "./api.js";
import { dash, when } from "./format.js";
import { JobView } from "./job_view.js";
import { toast } from "./toast.js";

const REFRESH_MS = 5000;
const table = document.getElementById("jobs-table");
const modal = document.getElementById("job-modal");
const modalBody = document.getElementById("job-modal-body");
let view = null;
let opener = null; // the job id whose "Open Logs" opened the modal: focus returns there

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (text instanceof Node) td.append(text); else td.textContent = text;
  return td;
}

// A job whose cancel was asked for winds down: a second Cancel would only be refused (409).
function cancelOrCancelling(job) {
  if (!job.cancel_requested_at) return button("cancel", job.id, "Cancel");
  const note = document.createElement("span");
  note.className = "muted";
  note.dataset.cancelling = "";
  note.textContent = "cancelling…";
  return note;
}

function button(action, id, label) {
  const b = document.createElement("button");
  b.type = "button";
  b.dataset.action = action;
  b.dataset.jobId = id;
  b.textContent = label;
  return b;
}

function row(job) {
  const p = job.progress || {};
  const tr = document.createElement("tr");
  tr.dataset.jobId = job.id;
  const link = document.createElement("a");
  link.href = `/jobs/${job.id}`;
  link.textContent = job.id;
  const badge = document.createElement("span");
  badge.className = `badge badge-${job.status}`;
  badge.textContent = job.status;
  const progress = document.createElement("span");
  const bar = document.createElement("progress");
  bar.max = p.total || 1;
  bar.value = p.processed || 0;
  const count = document.createElement("span");
  count.className = "muted";
  count.textContent = ` ${p.processed || 0}/${dash(p.total ?? "?")}`;
  progress.append(bar, count);
  const actions = cell("", "actions");
  const logs = document.createElement("a");
  logs.href = `/jobs/${job.id}`;
  logs.dataset.action = "logs";
  logs.dataset.jobId = job.id;
  logs.textContent = "Open Logs";
  actions.append(logs, " ");
  if (job.status === "pending" || job.status === "running") actions.append(cancelOrCancelling(job));
  if (job.status === "failed" || job.status === "cancelled") actions.append(button("retry", job.id, "Retry"));
  tr.append(cell(link), cell(job.kind), cell(badge), cell(progress), cell(job.summary || "", "summary"),
    cell(when(job.created_at)), cell(job.duration_s === null ? "-" : `${job.duration_s} s`, "num"),
    cell(dash(job.worker_id), "muted"), actions);
  return tr;
}

async function refresh() {
  const params = new URLSearchParams({ limit: "100" });
  if (table.dataset.status) params.set("status", table.dataset.status);
  if (table.dataset.kind) params.set("kind", table.dataset.kind);
  try {
    const [list, stats] = await Promise.all([api("GET", `/api/jobs?${params}`), api("GET", "/api/jobs/stats")]);
    const rows = list.jobs.map(row);
    if (!rows.length) {
      const empty = document.createElement("tr");
      empty.className = "empty";
      empty.append(cell("No jobs yet.", "muted"));
      empty.firstChild.colSpan = 9;
      rows.push(empty);
    }
    const focused = focusKey();
    table.tBodies[0].replaceChildren(...rows);
    if (focused) restoreFocus(focused);
    const tiles = { ...stats.by_status, completed_today: stats.completed_today, workers: stats.workers.length };
    for (const tile of document.querySelectorAll("[data-tile]")) tile.textContent = tiles[tile.dataset.tile] ?? 0;
  } catch (error) {
    toast(`Could not refresh jobs: ${error.message}`, "error");
  }
}

// The table is rebuilt every 5 s: the control a keyboard user is on is found again by
// its job and action, so focus stays put instead of falling back to the page.
function focusKey() {
  const active = document.activeElement;
  if (!active || !table.contains(active)) return null;
  const tr = active.closest("tr[data-job-id]");
  return tr ? { id: tr.dataset.jobId, action: active.dataset.action || "" } : null;
}

function restoreFocus({ id, action }) {
  const tr = table.querySelector(`tr[data-job-id="${CSS.escape(String(id))}"]`);
  if (!tr) return;
  const target = action ? tr.querySelector(`[data-action="${CSS.escape(action)}"]`) : tr.querySelector("a");
  (target || tr.querySelector("a")).focus();
}

async function openLogs(id) {
  closeView();
  opener = id;
  const response = await fetch(`/jobs/${id}/view`, { headers: { accept: "text/html" } });
  if (!response.ok) { toast(`Job ${id} not found`, "error"); return; }
  const parsed = new DOMParser().parseFromString(await response.text(), "text/html");
  modalBody.replaceChildren(...parsed.body.childNodes);
  view = new JobView(modalBody.querySelector(".job-view"));
  view.start();
  if (!modal.open) modal.showModal();
}

function closeView() {
  if (view) view.stop();
  view = null;
}

async function act(action, id) {
  try {
    await api("POST", `/api/jobs/${id}/${action}`);
    toast(action === "cancel" ? `Job ${id}: cancel requested` : `Job ${id} queued again`);
  } catch (error) {
    toast(`Job ${id}: ${error.message}`, "error");
  }
  refresh();
}

table.addEventListener("click", (event) => {
  const target = event.target.closest("[data-action]");
  if (!target) return;
  event.preventDefault();
  const id = target.dataset.jobId;
  if (target.dataset.action === "logs") openLogs(id);
  else act(target.dataset.action, id);
});

modal.addEventListener("close", () => {
  closeView();
  if (opener !== null) restoreFocus({ id: opener, action: "logs" });
  opener = null;
});

// "Open Logs" is a link (it works without JavaScript); Space opens the modal as on a button.
table.addEventListener("keydown", (event) => {
  const target = event.target.closest("a[data-action=logs]");
  if (!target || event.key !== " ") return;
  event.preventDefault();
  openLogs(target.dataset.jobId);
});

document.getElementById("scan-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const submit = form.querySelector("button[type=submit]");
  const data = new FormData(form);
  const params = {
    force: data.has("force"), dry_run: data.has("dry_run"),
    refresh_duration: data.has("refresh_duration"), refresh_size: data.has("refresh_size"),
    throttle_ms: Number(data.get("throttle_ms") || 0), batch_size: Number(data.get("batch_size") || 200),
  };
  const path = String(data.get("path") || "").trim();
  if (path) params.path = path;
  const rate = String(data.get("max_probes_per_s") || "").trim();
  if (rate) params.max_probes_per_s = Number(rate);
  if (data.has("allow_mass_missing")) params.allow_mass_missing = true;
  submit.disabled = true;
  try {
    const job = await api("POST", "/api/jobs", { kind: "library_scan", params });
    toast(`Library scan started (job ${job.id})`);
    await refresh();
    openLogs(job.id);
  } catch (error) {
    const id = error.data && error.data.job_id;
    toast(id ? `A library scan is already active (job ${id})` : `Could not start the scan: ${error.message}`, "error");
    if (id) openLogs(id);
  } finally {
    submit.disabled = false;
  }
});

// Back and forward restore the filters as they were left: show what this URL applied.
const filters = document.querySelector("form.filters");
if (filters) window.addEventListener("pageshow", () => filters.reset());

setInterval(refresh, REFRESH_MS);
