// A release's page: plan, approval, steps, and two live charts fed by the server's event stream.
// The stream carries sums only (connections per version, rates per second): one small message a
// second whatever the fleet size.
"use strict";
(() => {
  const { el, num, epoch, time, clock, secs, facts, badge, act, say } = envctl;
  const planId = document.body.dataset.plan;
  const css = getComputedStyle(document.documentElement);
  const colour = (name) => css.getPropertyValue(name).trim();
  const TERMINAL = ["Completed", "Aborted", "Failed"];

  const conn = { t: [], old: [], new: [] };
  const rate = { t: [], reconnects: [], budget: [], failures: [] };
  let release = null, plan = null, charts = null, failuresSeen = false;

  // -- charts ------------------------------------------------------------------------------------
  function size(fig) {
    const w = Math.max(260, fig.querySelector(".plot").clientWidth);
    return { width: w, height: w < 500 ? 200 : 260 };
  }

  function makeCharts() {
    const connFig = document.getElementById("chart-conn"), rateFig = document.getElementById("chart-rate");
    const from = (plan.from_versions || []).join(", ");
    const connChart = new uPlot({
      ...size(connFig),
      scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, Math.max(10, hi * 1.05)] } },
      series: [
        { label: "time" },
        { label: `connected to ${from} (old)`, stroke: colour("--old"), width: 2, dash: [10, 5] },
        { label: `connected to ${plan.to_version} (new)`, stroke: colour("--new"), width: 2.5 },
      ],
      axes: [{}, { label: "chargers", size: 70 }],
    }, [conn.t, conn.old, conn.new], connFig.querySelector(".plot"));
    const rateChart = new uPlot({
      ...size(rateFig),
      scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, Math.max(plan.budget_per_s * 1.2, hi * 1.05)] } },
      series: [
        { label: "time" },
        { label: "reconnects/s", stroke: colour("--rate"), width: 2 },
        { label: `budget ${num(plan.budget_per_s)}/s`, stroke: colour("--budget"), width: 1.5, dash: [4, 4], points: { show: false } },
        { label: "connect failures/s", stroke: colour("--fail"), width: 2, dash: [2, 3] },
      ],
      axes: [{}, { label: "per second", size: 70 }],
    }, [rate.t, rate.reconnects, rate.budget, rate.failures], rateFig.querySelector(".plot"));
    new ResizeObserver(() => {
      connChart.setSize(size(connFig));
      rateChart.setSize(size(rateFig));
    }).observe(document.querySelector(".charts"));
    return { connChart, rateChart, connFig, rateFig };
  }

  function addPoints(connPoints, ratePoints) {
    for (const [t, o, n] of connPoints || []) {
      if (conn.t.length && t <= conn.t[conn.t.length - 1]) continue;
      conn.t.push(t); conn.old.push(o); conn.new.push(n);
    }
    for (const [t, r, f] of ratePoints || []) {
      if (rate.t.length && t <= rate.t[rate.t.length - 1]) continue;
      rate.t.push(t); rate.reconnects.push(r); rate.budget.push(plan.budget_per_s); rate.failures.push(f);
      if (f != null) failuresSeen = true;
    }
  }

  function drawCharts() {
    if (!charts) charts = makeCharts();
    charts.connChart.setData([conn.t, conn.old, conn.new]);
    charts.rateChart.setData([rate.t, rate.reconnects, rate.budget, rate.failures]);
    charts.connFig.dataset.points = conn.t.length;
    charts.rateFig.dataset.points = rate.t.length;
    const last = conn.t.length - 1;
    document.getElementById("chart-conn-summary").textContent = last < 0
      ? "no samples yet"
      : `${conn.t.length} samples · now ${num(conn.old[last])} on the old version, ${num(conn.new[last])} on ${plan.to_version}`;
    const r = rate.t.length - 1;
    const peak = Math.max(0, ...rate.reconnects);
    const fails = rate.failures.reduce((a, b) => a + (b || 0), 0);
    document.getElementById("chart-rate-summary").textContent = r < 0
      ? "no complete second yet"
      : `${rate.t.length} seconds · last ${num(rate.reconnects[r])}/s · peak ${num(peak)}/s of a ${num(plan.budget_per_s)}/s budget · `
        + (failuresSeen ? `${num(fails)} connect failures` : "connect failures not observable on this runtime");
  }

  // -- facts -------------------------------------------------------------------------------------
  function renderPlan() {
    const old = (plan.old_replicas || []).map((r) => `${r.id} (${r.version}, ${num(r.connections)})`).join(", ");
    facts(document.getElementById("plan"), [
      ["environment", `${plan.env} (${plan.runtime})`],
      ["from → to", `${plan.from_versions.join(", ")} → ${plan.to_version}`],
      ["budget", `${num(plan.budget_per_s)} reconnects/s`],
      ["canary", `${(plan.canary_share * 100).toFixed(1)} % = ${num(plan.canary_connections)} chargers, hold ${secs(plan.hold_s)}`],
      ["chargers", num(plan.connections)],
      ["old replicas", old || "—"],
      ["new replicas", num(plan.new_replicas)],
      ["estimated duration", secs(plan.estimated_duration_s)],
      ["planned by", `${plan.planner}, ${time(plan.created_at)}`],
      ["plan hash", el("code", {}, plan.hash)],
    ]);
  }

  function renderRelease(doc) {
    release = doc;
    document.getElementById("phase").replaceWith(Object.assign(badge(doc.phase), { id: "phase" }));
    document.getElementById("step").textContent = doc.step ? `step ${doc.step}` : "";
    document.getElementById("message").textContent = doc.message || "";
    const abortBtn = document.getElementById("abort");
    abortBtn.disabled = TERMINAL.includes(doc.phase) || doc.phase === "Pending" || !!doc.abort;
    const a = doc.approval;
    facts(document.getElementById("approval"), a ? [
      ["approved by", a.approver],
      ["when", time(a.approved_at)],
      ["plan hash", el("code", {}, a.plan_hash)],
      ["valid", a.valid ? "yes: matches the plan" : "NO: the plan changed after approval"],
    ] : [["approved by", "not approved yet"]]);
    const notes = [];
    if (doc.abort) notes.push(`aborted by ${doc.abort.by} at ${time(doc.abort.requested_at)}: ${doc.abort.reason}`);
    if (doc.failure) notes.push(`failed: ${doc.failure}`);
    envctl.notes(document.getElementById("release-notes"), notes.concat(extraNotes));
    const stopped = TERMINAL.includes(doc.phase) || !!doc.abort;
    const rows = (doc.steps || []).map((s) => {
      const interrupted = !s.finished_at && stopped && !(doc.abort && s.name.startsWith("rollback") || s.name === "retire_new");
      const detail = Object.entries(s.detail || {}).filter(([k]) => k !== "verdict")
        .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : typeof v === "object" ? JSON.stringify(v) : v}`).join("; ");
      return el("tr", { class: s.finished_at ? "" : "current" },
        el("td", { "data-label": "Step" }, s.name),
        el("td", { "data-label": "Started" }, clock(s.started_at)),
        el("td", { "data-label": "Finished" }, s.finished_at ? clock(s.finished_at) : interrupted ? "interrupted" : "running"),
        el("td", { "data-label": "Took", class: "num" }, interrupted ? "—" : secs((epoch(s.finished_at) || Date.now() / 1000) - epoch(s.started_at))),
        el("td", { "data-label": "Detail" }, detail || "—"));
    });
    document.querySelector("#steps tbody").replaceChildren(...rows);
  }

  // Once finished: the ledger checked against the server's database (the figures a rehearsal reports).
  function renderChecked(checked) {
    const dl = document.getElementById("tx-checked");
    if (!checked) {
      facts(dl, [["status", release && TERMINAL.includes(release.phase) ? "checking…" : "checked once the release has finished"]]);
      return;
    }
    if (checked.error) { facts(dl, [["checked against the database", `could not check: ${checked.error}`]]); return; }
    const order = ["started", "acknowledged", "lost", "stops_lost", "meter_values_lost", "energy_mismatch_wh", "phantom", "duplicated", "pending"];
    facts(dl, order.filter((k) => k in checked).map((k) => [k.replaceAll("_", " "), num(checked[k])]));
  }

  function renderTx(tx) {
    facts(document.getElementById("tx"), tx ? [
      ["sessions started", num(tx.started)],
      ["sessions stopped", num(tx.stopped)],
      ["messages acknowledged", num(tx.tx_acknowledged)],
      ["waiting to be sent", num(tx.tx_queued)],
      ["sent, not yet answered", num(tx.tx_sent)],
      ["dropped", num(tx.tx_dropped)],
      ["chargers connected", num(tx.chargers_connected)],
    ] : [["ledger", "not observable on this runtime (no simulator)"]]);
  }

  let extraNotes = [];
  function snapshot(doc) {
    plan = doc.plan;
    conn.t.length = conn.old.length = conn.new.length = 0;
    rate.t.length = rate.reconnects.length = rate.budget.length = rate.failures.length = 0;
    extraNotes = doc.source === "journal"
      ? ["No dashboard sampled this release while it ran: the chart shows the chargers the engine disconnected per second, from the release's journal."]
      : [];
    if (plan.runtime !== "local") extraNotes.push("Transaction figures come from the charger simulator, which only local environments run.");
    addPoints(doc.conn, doc.rates);
    renderPlan();
    renderRelease(doc.release);
    renderTx(doc.tx);
    renderChecked(doc.checked);
    drawCharts();
  }

  function update(msg) {
    addPoints(msg.conn, msg.rates);
    renderRelease(msg.release);
    if (msg.tx) renderTx(msg.tx);
    renderChecked(msg.checked);
    drawCharts();
  }

  document.getElementById("abort-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!confirm(`Abort release ${planId}? Chargers are moved back to the old version at the budget.`)) return;
    const reason = document.getElementById("abort-reason").value.trim();
    const res = await act(`api/releases/${encodeURIComponent(planId)}/abort`, { reason });
    if (res) say(`abort recorded (by ${res.abort.by}): ${res.note}`);
  });

  envctl.stream(`api/releases/${encodeURIComponent(planId)}/events`, { snapshot, update }, null);
})();
