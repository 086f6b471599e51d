// /docs: start Swagger UI over the app's OpenAPI schema (a file, so the page needs no inline script).
const root = document.getElementById("swagger-ui");
if (root && !window.SwaggerUIBundle) {
  // Swagger UI comes from a CDN: offline, say so and point at the schema itself.
  const note = document.createElement("p");
  const link = document.createElement("a");
  link.href = root.dataset.openapiUrl;
  link.textContent = root.dataset.openapiUrl;
  note.append("The interactive API page could not load Swagger UI (it is fetched from the internet). The OpenAPI schema is at ", link, ".");
  root.replaceChildren(note);
} else if (root) {
  window.SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
}
