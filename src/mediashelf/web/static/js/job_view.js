// A live job view (modal and /jobs/{id}): progress every 2 s, log tail every 5 s, stopped on close.
import { api } from "./api.js";
import { dash, when } from "./format.js";

const JOB_EVERY_MS = 2000;
const LOG_EVERY_MS = 5000;
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
// The longest search the tracks page takes (web/schemas.py SEARCH_MAX): a sample's link
// searches for its path's last SEARCH_MAX characters, which still find the file.
const SEARCH_MAX = 200;

function sampleSearch(path) {
  const chars = [...path];
  return chars.length > SEARCH_MAX ? chars.slice(-SEARCH_MAX).join("") : path;
}

export class JobView {
  constructor(root) {
    this.root = root;
    this.jobId = root.dataset.jobId;
    this.after = { "": 0, job: 0, progress: 0 };
    this.stream = "";
    this.timers = [];
    this.log = root.querySelector("[data-job=log]");
    this.log.textContent = "";
    for (const radio of root.querySelectorAll(".log-tabs input")) {
      radio.addEventListener("change", () => { this.stream = radio.value; this.log.textContent = ""; this.after[this.stream] = 0; this.pollLogs(); });
    }
  }

  part(name) { return this.root.querySelector(`[data-job=${name}]`); }

  start() {
    this.pollJob();
    this.pollLogs();
    this.timers.push(setInterval(() => this.pollJob(), JOB_EVERY_MS));
    this.timers.push(setInterval(() => this.pollLogs(), LOG_EVERY_MS));
  }

  stop() {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.stopped = true;
  }

  async pollJob() {
    if (this.stopped) return;
    let job;
    try { job = await api("GET", `/api/jobs/${this.jobId}`); } catch { return; }
    this.render(job);
    if (TERMINAL.has(job.status) && this.finalFetched) this.stopJobPolling();
    if (TERMINAL.has(job.status)) this.finalFetched = true;
  }

  stopJobPolling() {
    clearInterval(this.timers[0]);
  }

  render(job) {
    const p = job.progress || {};
    const status = this.part("status");
    status.textContent = job.status;
    status.className = `badge badge-${job.status}`;
    this.root.dataset.status = job.status;
    this.part("summary").textContent = job.summary || "";
    const bar = this.part("bar");
    bar.max = p.total || 1;
    bar.value = p.processed || 0;
    // An ended job's last ETA is past (a cancelled scan kept "ETA 11s"): none is shown.
    const active = job.status === "pending" || job.status === "running";
    const eta = !active || p.eta_s === null || p.eta_s === undefined ? "-" : `${p.eta_s}s`;
    this.part("rate").textContent = `phase ${dash(p.phase)} · ${p.processed || 0}/${dash(p.total)} · ${this.rate(job)} files/s · ETA ${eta}`;
    for (const cell of this.root.querySelectorAll("[data-counter]")) cell.textContent = dash(p[cell.dataset.counter]);
    this.part("attempt").textContent = `${job.attempt}/${job.max_attempts}`;
    this.part("worker").textContent = dash(job.worker_id);
    const error = this.part("error");
    error.hidden = !job.error;
    error.textContent = job.error || "";
    this.renderErrors(job.error_summary || {}, p.failed || 0);
  }

  // Files checked per second: the job's own figure; once ended, processed over the job's
  // duration; while it says 0 but files are being checked, the pace over the last step of
  // `processed` seen, stretched to now (it stays shown between steps and falls while nothing
  // moves, where a pace between two polls blinked back to "-" at every poll without a step).
  rate(job) {
    const p = job.progress || {};
    const processed = p.processed || 0;
    const pace = this.pace(processed, performance.now());
    let rate = typeof p.rate === "number" && p.rate > 0 ? p.rate : null;
    if (rate === null && TERMINAL.has(job.status) && processed && job.duration_s > 0) {
      rate = processed / job.duration_s;
    }
    if (rate === null) rate = pace;
    if (rate === null) return "-";
    return rate < 10 ? rate.toFixed(1) : rate.toFixed(0);
  }

  // `step` is where `processed` last rose and `from` where it stood before that rise; the pace is
  // the rise over the time since `from`. A count that goes down (a retried attempt) starts over.
  pace(processed, now) {
    if (!this.step || processed < this.step.processed) {
      this.step = { processed, at: now };
      this.from = null;
    } else if (processed > this.step.processed) {
      this.from = this.step;
      this.step = { processed, at: now };
    }
    const from = this.from;
    return from && now > from.at ? (processed - from.processed) / ((now - from.at) / 1000) : null;
  }

  // The error summary by class; failures the job has counted but not grouped yet (a scan
  // groups them as it goes) are shown as such, so the list never says "none" while failed > 0.
  renderErrors(summary, failed) {
    const list = this.part("error-summary");
    list.replaceChildren();
    const names = Object.keys(summary);
    for (const name of names) {
      const item = document.createElement("li");
      const strong = document.createElement("strong");
      strong.textContent = name;
      item.append(strong, `: ${summary[name].count} — `);
      (summary[name].samples || []).forEach((path, index) => {
        const link = document.createElement("a");
        link.className = "sample";
        link.href = `/tracks?q=${encodeURIComponent(sampleSearch(path))}`;
        link.textContent = path;
        item.append(link);
        if (index < summary[name].samples.length - 1) item.append(", ");
      });
      list.append(item);
    }
    const grouped = names.reduce((total, name) => total + (summary[name].count || 0), 0);
    if (failed > grouped || !names.length) {
      const item = document.createElement("li");
      item.className = "muted";
      if (failed > grouped) {
        item.dataset.job = "ungrouped";
        item.textContent = `${failed - grouped} failed so far, not grouped by class yet`;
      } else {
        item.textContent = "none";
      }
      list.append(item);
    }
  }

  async pollLogs() {
    if (this.stopped) return;
    const stream = this.stream;
    let tail;
    try {
      const filter = stream ? `stream=${stream}&` : "";
      // Opening on a long log shows its end; later polls follow on from there.
      const newest = this.after[stream] === 0 ? "tail=true&" : "";
      tail = await api("GET", `/api/jobs/${this.jobId}/logs?${filter}${newest}after=${this.after[stream]}&limit=500`);
    } catch { return; }
    if (stream !== this.stream || !tail.lines.length) return;
    this.after[stream] = tail.next_after;
    const atBottom = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 24;
    const text = tail.lines.map((line) => line.stream === "progress" ? line.message : `${when(line.ts)} ${line.level} ${line.message}`).join("\n") + "\n";
    this.log.append(document.createTextNode(text));
    if (atBottom) this.log.scrollTop = this.log.scrollHeight;
  }
}
