// /track/{id}: the Rescan button. One request at a time; values update in place; a toast says what changed.
import { api } from "./api.js";
import { formatters } from "./format.js";
import { toast } from "./toast.js";

const form = document.getElementById("rescan-form");
const button = document.getElementById("rescan-button");
let busy = false;

function show(track) {
  for (const element of document.querySelectorAll("[data-field], [data-mirror]")) {
    const name = element.dataset.field || element.dataset.mirror;
    if (!(name in track)) continue;
    const format = formatters[element.dataset.format || "dash"] || formatters.dash;
    element.textContent = format(track[name]);
  }
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
    toast(`${what}: ${error.message}. Nothing was changed.`, "error", 9000);
  } finally {
    busy = false;
    button.disabled = false;
    button.textContent = "Rescan";
  }
}

if (form) form.addEventListener("submit", rescan);
