// Small notifications at the bottom right; text only.
export function toast(message, kind = "ok", ms = 6000) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = document.createElement("div");
  item.className = kind === "error" ? "toast toast-error" : "toast";
  item.setAttribute("role", kind === "error" ? "alert" : "status");
  item.textContent = message;
  box.append(item);
  setTimeout(() => item.remove(), ms);
}
