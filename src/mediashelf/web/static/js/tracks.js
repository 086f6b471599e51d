// /tracks: changing the page size or a filter applies it at once (the form works without JS too).
const form = document.getElementById("track-filters");
if (form) {
  for (const select of form.querySelectorAll("select")) {
    select.addEventListener("change", () => {
      const page = form.querySelector("input[name=page]");
      if (page) page.remove();
      form.requestSubmit();
    });
  }
  // Back and forward restore the page as it was left, the controls showing what was chosen
  // on the way out; reset them to what this page's URL applied (the server's defaults).
  window.addEventListener("pageshow", () => form.reset());
}
