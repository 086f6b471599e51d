// /track/{id}: the Rescan and Verify buttons. One request at a time each; values update in
// place; a toast says what changed (Verify: what the decode found, with a link to its job).
import { api } from "./api.js";
import { formatters } from "./format.js";
import { jobLink, watchJob } from "./job_watch.js";
import { toast } from "./toast.js";

const form = document.getElementById("rescan-form");
const button = document.getElementById("rescan-button");
const verifyButton = document.getElementById("verify-button");
let busy = false;
let verifying = false;

function show(track) {
  for (const element of document.querySelectorAll("[data-field], [data-mirror]")) {
    const name = element.dataset.field || element.dataset.mirror;
    if (!(name in track)) continue;
    const format = formatters[element.dataset.format || "dash"] || formatters.dash;
    element.textContent = format(track[name]);
  }
  const notice = document.getElementById("problem-notice");
  if (notice && "problem_class" in track && !track.problem_class) notice.hidden = true;
}

function describe(changes) {
  const names = Object.keys(changes);
  if (!names.length) return "Rescanned: nothing changed.";
  const lines = names.map((name) => `${name}: ${formatters.dash(changes[name][0])} → ${formatters.dash(changes[name][1])}`);
  return `Rescanned: ${names.length} changed\n${lines.join("\n")}`;
}

function addHistory(body) {
  const tbody = document.querySelector("#audit-table tbody");
  if (!tbody) return;
  tbody.querySelector("tr.empty")?.remove();
  const row = document.createElement("tr");
  const cells = [formatters.when(body.probed_at), "track.rescan", "ui"];
  for (const text of cells) {
    const cell = document.createElement("td");
    cell.textContent = text;
    row.append(cell);
  }
  const diff = document.createElement("td");
  const names = Object.keys(body.changes);
  if (names.length) {
    const list = document.createElement("ul");
    list.className = "diff";
    for (const name of names) {
      const item = document.createElement("li");
      const code = document.createElement("code");
      code.textContent = name;
      item.append(code, `: ${formatters.dash(body.changes[name][0])} → ${formatters.dash(body.changes[name][1])}`);
      list.append(item);
    }
    diff.append(list);
  } else {
    diff.textContent = "no change";
    diff.className = "muted";
  }
  row.append(diff);
  tbody.prepend(row);
}

async function rescan(event) {
  event.preventDefault();
  if (busy) return;
  busy = true;
  const refocus = document.activeElement === button; // disabling it drops keyboard focus
  button.disabled = true;
  button.textContent = "Rescanning…";
  try {
    const body = await api("POST", `/api/track/${encodeURIComponent(form.dataset.videoId)}/rescan_media`, {
      refresh_duration: document.getElementById("refresh-duration").checked,
      refresh_size: document.getElementById("refresh-size").checked,
    });
    const track = await api("GET", `/api/track/${encodeURIComponent(form.dataset.videoId)}`);
    show(track);
    addHistory(body);
    toast(describe(body.changes));
  } catch (error) {
    const what = error.status === 504 ? "Probe timed out" : error.status === 422 ? "Probe failed" : "Rescan failed";
    toast(`${what}: ${error.message.replace(/\.$/, "")}. Nothing was changed.`, "error", 9000);
  } finally {
    busy = false;
    button.disabled = false;
    button.textContent = "Rescan";
    if (refocus && document.activeElement === document.body) button.focus();
  }
}

function verdict(track) {
  if (!track.decode_errors) return "Verified: the file decodes cleanly.";
  const at = track.decode_error_at_s === null ? "" : ` at ${formatters.duration(track.decode_error_at_s)}`;
  return `Verified: ${track.decode_errors} decode errors; the first${at}: ${formatters.dash(track.decode_error)}`;
}

async function verify() {
  if (verifying) return;
  verifying = true;
  const refocus = document.activeElement === verifyButton;
  verifyButton.disabled = true;
  verifyButton.textContent = "Verifying…";
  const id = encodeURIComponent(form.dataset.videoId);
  try {
    const started = await api("POST", "/api/problems/verify", { video_ids: [form.dataset.videoId] });
    toast(`Verification ${started.joined ? "joined" : "queued"}`, "ok", 6000, jobLink(started.job_id));
    const ended = await watchJob(started.job_id);
    const track = await api("GET", `/api/track/${id}`);
    show(track);
    const link = jobLink(ended.id);
    if (ended.status !== "completed") {
      toast(`Verification ${ended.status}: ${ended.error || ended.summary || ""}`, "error", 10000, link);
    } else if (!(ended.progress || {}).processed) {
      toast("Nothing was verified: only files whose last probe succeeded are decoded; rescan it first.", "error", 10000, link);
    } else {
      toast(verdict(track), track.decode_errors ? "error" : "ok", 10000, link);
    }
  } catch (error) {
    const active = error.data && error.data.job_id;
    toast(`Could not verify: ${error.message}`, "error", 10000, active ? jobLink(active) : null);
  } finally {
    verifying = false;
    verifyButton.disabled = false;
    verifyButton.textContent = "Verify";
    if (refocus && document.activeElement === document.body) verifyButton.focus();
  }
}

if (form) form.addEventListener("submit", rescan);
if (form && verifyButton) {
  verifyButton.hidden = false;
  verifyButton.addEventListener("click", verify);
}
