// Follow one job until it ends: poll /api/jobs/{id}, report each state, resolve with the ended job.
import { api } from "./api.js";

const EVERY_MS = 1000;
const ENDED = new Set(["completed", "failed", "cancelled"]);

export function jobLink(id) {
  return { href: `/jobs/${encodeURIComponent(id)}`, text: `job ${id}` };
}

export async function watchJob(id, onUpdate = () => {}) {
  for (;;) {
    try {
      const job = await api("GET", `/api/jobs/${encodeURIComponent(id)}`);
      onUpdate(job);
      if (ENDED.has(job.status)) return job;
    } catch (error) {
      if (error.status && error.status < 500) throw error; // gone, or logged out: stop here
    }
    await new Promise((resolve) => setTimeout(resolve, EVERY_MS));
  }
}
