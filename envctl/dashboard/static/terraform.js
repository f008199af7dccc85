// Terraform: locks and the last saved plan per project, refreshed every few seconds.
"use strict";
(() => {
  const { el, time } = envctl;
  async function refresh() {
    const status = document.getElementById("tf-updated");
    try {
      const doc = await (await fetch("api/terraform")).json();
      if (doc.message) { status.textContent = `could not read Terraform state: ${doc.message}`; return; }
      document.getElementById("tf-root").textContent = `projects of ${doc.root}`;
      document.querySelector("#locks tbody").replaceChildren(...doc.locks.map((lk) => el("tr", { "data-project": lk.project },
        el("td", { "data-label": "Project" }, lk.project), el("td", { "data-label": "Repository" }, lk.repo),
        el("td", { "data-label": "Dir / workspace" }, `${lk.dir} / ${lk.workspace}`),
        el("td", { "data-label": "Held by" }, `#${lk.pull}`), el("td", { "data-label": "User" }, lk.user),
        el("td", { "data-label": "Since" }, time(lk.created_at)))));
      document.getElementById("locks-empty").hidden = doc.locks.length > 0;
      document.querySelector("#plans tbody").replaceChildren(...doc.projects.map((p) => {
        const lp = p.last_plan;
        return el("tr", { "data-project": p.name },
          el("td", { "data-label": "Project" }, p.name), el("td", { "data-label": "Dir / workspace" }, `${p.dir} / ${p.workspace}`),
          el("td", { "data-label": "Last plan" }, lp ? time(lp.created_at) : "never planned here"),
          el("td", { "data-label": "Changes", class: "changes" }, lp ? (lp.has_changes ? "changes to apply" : "no changes") : "—"),
          el("td", { "data-label": "By" }, lp ? lp.user : "—"),
          el("td", { "data-label": "Commit" }, lp ? el("code", {}, lp.head_sha.slice(0, 12)) : "—"));
      }));
      status.textContent = "updated " + new Date().toLocaleTimeString();
    } catch (err) {
      status.textContent = "could not load: " + err;
    }
  }
  refresh();
  setInterval(refresh, 5000);
})();
