// /problems: Retry, Release, Retry all and Verify. Each button waits for its job (a link to it
// beside the button and in a toast), then the list is read again from the server's own page.
import { api } from "./api.js";
import { jobLink, watchJob } from "./job_watch.js";
import { toast } from "./toast.js";

const region = document.getElementById("problems-region");
const verifyForm = document.getElementById("verify-form");
const jobs = new Map(); // data-key → { id, status, active }

function reveal(root) {
  for (const element of root.querySelectorAll("[data-action]")) element.hidden = false;
}

function buttonsFor(key) {
  return document.querySelectorAll(`[data-key="${CSS.escape(key)}"]`);
}

function mark(key) {
  const entry = jobs.get(key);
  for (const button of buttonsFor(key)) {
    button.disabled = Boolean(entry && entry.active);
    button.setAttribute("aria-busy", String(Boolean(entry && entry.active)));
    let link = button.nextElementSibling;
    if (!link || !link.classList.contains("job-link")) link = null;
    if (!entry || entry.id === null) {
      link?.remove();
      continue;
    }
    if (!link) {
      link = document.createElement("a");
      link.className = "job-link";
      button.after(link);
    }
    link.href = `/jobs/${encodeURIComponent(entry.id)}`;
    link.textContent = `job ${entry.id} · ${entry.status}`;
  }
}

let actedOn = null; // the key of the last button used: disabling it while busy drops focus

async function reload() {
  const active = document.activeElement;
  const focused = active?.dataset?.key ?? (active === document.body ? actedOn : null);
  let response;
  try {
    response = await fetch(location.pathname + location.search, { headers: { accept: "text/html" }, credentials: "same-origin" });
  } catch {
    response = null;
  }
  if (!response || !response.ok) {
    toast("Could not read the list again; reload the page.", "error");
    return;
  }
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  const body = fresh.getElementById("problems-region");
  if (!body) return;
  region.replaceChildren(...body.childNodes);
  const badge = document.getElementById("nav-problems");
  const freshBadge = fresh.getElementById("nav-problems");
  if (badge && freshBadge) badge.textContent = freshBadge.textContent;
  else if (badge && !location.search.includes("path=")) badge.remove();
  reveal(region);
  for (const key of jobs.keys()) mark(key);
  if (focused) buttonsFor(focused)[0]?.focus();
}

function refused(what, error) {
  const active = error.data && error.data.job_id;
  toast(`${what}: ${error.message}`, "error", 10000, active ? jobLink(active) : null);
}

async function runJob(key, what, request) {
  if (jobs.get(key)?.active) return;
  jobs.set(key, { id: null, status: "starting", active: true });
  mark(key);
  let started;
  try {
    started = await request();
  } catch (error) {
    jobs.delete(key);
    mark(key);
    refused(what, error);
    return;
  }
  const entry = { id: started.job_id, status: "pending", active: true };
  jobs.set(key, entry);
  mark(key);
  const verb = started.joined ? "joined the active" : "queued";
  toast(`${what}: ${verb} ${started.kind}`, "ok", 8000, jobLink(started.job_id));
  let ended = null;
  try {
    ended = await watchJob(started.job_id, (job) => { entry.status = job.status; mark(key); });
  } catch (error) {
    toast(`Job ${started.job_id}: ${error.message}`, "error", 10000, jobLink(started.job_id));
  }
  entry.active = false;
  mark(key);
  if (ended) {
    const words = ended.summary || ended.error || ended.status;
    toast(`${what}: ${words}`, ended.status === "completed" ? "ok" : "error", 10000, jobLink(ended.id));
  }
  await reload();
}

async function release(key, videoId) {
  if (jobs.get(key)?.active) return;
  jobs.set(key, { id: null, status: "", active: true });
  mark(key);
  try {
    const track = await api("POST", `/api/track/${encodeURIComponent(videoId)}/release`);
    toast(`Released ${track.relpath}: the next scan probes it again.`);
  } catch (error) {
    refused("Release", error);
  }
  jobs.delete(key);
  await reload();
}

region.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button || button.disabled) return;
  const { action, key, videoId } = button.dataset;
  actedOn = key;
  const path = verifyForm.dataset.path || undefined;
  if (action === "retry") {
    runJob(key, "Retry", () => api("POST", "/api/problems/retry", { video_id: videoId }));
  } else if (action === "retry-class") {
    const body = { class: button.dataset.class, path };
    runJob(key, `Retry all ${button.dataset.class}`, () => api("POST", "/api/problems/retry", body));
  } else if (action === "release") {
    release(key, videoId);
  }
});

verifyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const body = { lossless_only: verifyForm.elements.lossless_only.checked };
  if (verifyForm.dataset.path) body.path = verifyForm.dataset.path;
  runJob("verify", "Verify", () => api("POST", "/api/problems/verify", body));
});

verifyForm.hidden = false;
reveal(region);
