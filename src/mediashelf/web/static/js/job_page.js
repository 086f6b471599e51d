// /jobs/{id}: the job view as a page.
import { JobView } from "./job_view.js";

const root = document.querySelector("#job-page .job-view");
if (root) new JobView(root).start();
