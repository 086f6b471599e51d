// JSON calls to the API; errors carry the server's message.
function csrfToken() {
  const match = document.cookie.match(/(?:^|; )mediashelf_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : null;
}

export async function api(method, url, body) {
  const headers = { accept: "application/json", "x-mediashelf-client": "ui" };
  const token = csrfToken();
  if (token) headers["x-csrf-token"] = token;
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok) {
    const message = response.status === 401 ? "log in first (Log in, top right)" : (data && data.error);
    const error = new Error(message || `HTTP ${response.status}`);
    error.status = response.status;
    error.data = data;
    throw error;
  }
  return data;
}
