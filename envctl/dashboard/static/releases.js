// The releases list: every plan of every environment, newest first, from the server's event stream.
"use strict";
(() => {
  const { el, num, time, badge } = envctl;
  const tbody = document.querySelector("#releases tbody");

  function render(doc) {
    envctl.notes(document.getElementById("rel-notes"), doc.notes);
    tbody.replaceChildren(...doc.releases.map((r) => el("tr", { "data-plan": r.plan_id },
      el("td", { "data-label": "Release" }, el("a", { href: `releases/${encodeURIComponent(r.plan_id)}` }, r.plan_id)),
      el("td", { "data-label": "Environment" }, r.env),
      el("td", { "data-label": "Version" }, `${(r.from_versions || []).join(", ")} → ${r.to_version}`),
      el("td", { "data-label": "Phase" }, badge(r.phase)),
      el("td", { "data-label": "Step" }, r.step || "—"),
      el("td", { "data-label": "Budget", class: "num" }, r.budget_per_s ? `${num(r.budget_per_s)}/s` : "—"),
      el("td", { "data-label": "Started" }, time(r.started_at)))));
    document.getElementById("rel-empty").hidden = doc.releases.length > 0;
  }

  envctl.stream("api/releases/events", { releases: render }, document.getElementById("rel-updated"));
})();
