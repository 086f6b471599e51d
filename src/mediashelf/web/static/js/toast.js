// Small notifications in a corner stack under the header, beside the content rather than over
// the tables; each can be dismissed, and at most MAX stay (the oldest go first). Text only;
// `link` ({href, text}) adds one link after the text (to the job a button started, say).
const MAX = 3;

export function toast(message, kind = "ok", ms = 6000, link = null) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = document.createElement("div");
  item.className = kind === "error" ? "toast toast-error" : "toast";
  item.setAttribute("role", kind === "error" ? "alert" : "status");
  const text = document.createElement("p");
  text.className = "toast-text";
  text.textContent = message;
  if (link) {
    const anchor = document.createElement("a");
    anchor.href = link.href;
    anchor.textContent = link.text;
    text.append(" ", anchor);
  }
  const close = document.createElement("button");
  close.type = "button";
  close.className = "toast-close";
  close.setAttribute("aria-label", "Dismiss");
  close.textContent = "×";
  close.addEventListener("click", () => item.remove());
  item.append(text, close);
  box.append(item);
  while (box.children.length > MAX) box.firstElementChild.remove();
  setTimeout(() => item.remove(), ms);
}
