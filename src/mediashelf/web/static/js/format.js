// The same formatting as the server-rendered pages (web/pages/render.py).
export function dash(value) {
  return value === null || value === undefined || value === "" ? "-" : String(value);
}

export function duration(value) {
  if (value === null || value === undefined) return "-";
  const whole = Math.floor(value);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  if (hours) return `${hours}:${String(minutes).padStart(2, "0")}:${String(whole % 60).padStart(2, "0")}`;
  return `${minutes}:${(value - minutes * 60).toFixed(1).padStart(4, "0")}`;
}

export function size(value) {
  if (value === null || value === undefined) return "-";
  let amount = value;
  for (const unit of ["B", "KiB", "MiB", "GiB", "TiB"]) {
    if (amount < 1024 || unit === "TiB") return unit === "B" ? `${amount.toFixed(0)} B` : `${amount.toFixed(1)} ${unit}`;
    amount /= 1024;
  }
  return "-";
}

export function bitrate(value) {
  if (value === null || value === undefined) return "-";
  return value >= 10000000 ? `${(value / 1000000).toFixed(1)} Mb/s` : `${(value / 1000).toFixed(0)} kb/s`;
}

export function when(value) {
  if (!value) return "-";
  return value.replace("T", " ").slice(0, 19);
}

export const formatters = { dash, duration, size, bitrate, when };
