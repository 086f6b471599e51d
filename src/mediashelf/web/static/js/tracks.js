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
}
