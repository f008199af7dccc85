// The environments page: one row per environment, refreshed from the server's event stream.
"use strict";
(() => {
  const { el, num, time, badge, act, say } = envctl;
  const tbody = document.querySelector("#environments tbody");
  const empty = document.getElementById("env-empty");

  function actions(env) {
    const choice = el("select", { "aria-label": `extend ${env.name} by` },
      ["1h", "4h", "8h", "1d"].map((d) => el("option", { value: d, selected: d === "4h" }, d)));
    const extend = el("button", { type: "button", class: "extend", onclick: async () => {
      const res = await act(`api/environments/${encodeURIComponent(env.name)}/extend`, { by: choice.value, runtime: env.runtime });
      if (res) say(`${env.name}: expires at ${res.expires_at} (extended by ${res.extended_by})`);
    } }, "Extend");
    const down = el("button", { type: "button", class: "down danger", onclick: async () => {
      if (!confirm(`Tear down ${env.name}? Every process (or the namespace) is removed.`)) return;
      say(`tearing down ${env.name}…`);
      const res = await act(`api/environments/${encodeURIComponent(env.name)}/down`, { runtime: env.runtime });
      if (res) say(`${env.name}: ${res.removed ? "torn down" : "nothing to remove"}`);
    } }, "Tear down");
    return el("div", { class: "actions" }, choice, extend, down);
  }

  function row(env) {
    const servers = env.servers || [];
    const ready = servers.filter((s) => s.ready).length;
    const versions = [...new Set(servers.map((s) => s.version))].join(", ");
    const c = env.chargers || {};
    return el("tr", { "data-env": env.name },
      el("td", { "data-label": "Name" }, el("strong", {}, env.name)),
      el("td", { "data-label": "Runtime" }, env.runtime),
      el("td", { "data-label": "PR" }, env.pr == null ? "—" : `#${env.pr}`),
      el("td", { "data-label": "Owner" }, env.owner || "—"),
      el("td", { "data-label": "Phase" }, badge(env.phase)),
      el("td", { "data-label": "Chargers", class: "num chargers" }, `${num(c.connected)} / ${num(c.target)}`),
      el("td", { "data-label": "Replicas", class: "num replicas" }, `${ready} / ${servers.length}`,
        versions ? el("span", { class: "muted" }, ` (${versions})`) : null),
      el("td", { "data-label": "Expires" }, time(env.expires_at)),
      el("td", { "data-label": "Actions" }, actions(env)));
  }

  function render(doc) {
    envctl.notes(document.getElementById("env-notes"), doc.notes);
    const focused = document.activeElement && document.activeElement.closest("tr");
    const keep = focused ? focused.dataset.env : null;
    // Rows whose environment is focused keep their controls, so a chosen duration is not reset.
    const rows = doc.environments.map((env) => (env.name === keep ? focused : row(env)));
    tbody.replaceChildren(...rows);
    empty.hidden = doc.environments.length > 0;
  }

  envctl.stream("api/environments/events", { environments: render }, document.getElementById("env-updated"));
})();
