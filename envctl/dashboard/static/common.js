// Shared by every page: the action token (kept for this tab only), actions, small formatters.
"use strict";
const envctl = (() => {
  const KEY = "envctl-dashboard-token";
  const tokenInput = document.getElementById("token");
  const toast = document.getElementById("toast");
  let toastTimer = null;
  tokenInput.value = sessionStorage.getItem(KEY) || "";
  document.getElementById("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = tokenInput.value.trim();
    if (value) sessionStorage.setItem(KEY, value); else sessionStorage.removeItem(KEY);
    say(value ? "token set for this tab" : "token cleared");
  });

  function say(text, bad = false) {
    toast.textContent = text;
    toast.classList.toggle("bad", bad);
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toast.hidden = true; }, 8000);
  }

  // POST an action with the bearer token; answers with the JSON body, or shows why it was refused.
  async function act(url, body) {
    const headers = { "Content-Type": "application/json" };
    const token = tokenInput.value.trim() || sessionStorage.getItem(KEY);
    if (token) headers.Authorization = "Bearer " + token;
    let resp;
    try {
      resp = await fetch(url, { method: "POST", headers, body: JSON.stringify(body || {}) });
    } catch (err) {
      say("the dashboard did not answer: " + err, true);
      return null;
    }
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const why = data.message || resp.statusText;
      say(`refused (${resp.status}): ${why}` + (data.hint ? ` — ${data.hint}` : ""), true);
      return null;
    }
    return data;
  }

  // An EventSource that shows its state in `statusEl`; the browser reconnects it by itself.
  function stream(url, handlers, statusEl) {
    const es = new EventSource(url);
    for (const [name, fn] of Object.entries(handlers)) {
      es.addEventListener(name, (ev) => {
        fn(JSON.parse(ev.data));
        if (statusEl) statusEl.textContent = "live · updated " + new Date().toLocaleTimeString();
      });
    }
    es.onerror = () => { if (statusEl) statusEl.textContent = "connection lost, reconnecting…"; };
    return es;
  }

  // the API's timestamps are ISO 8601 strings (docs/architecture.md); chart series carry epoch seconds
  const epoch = (t) => (t == null ? null : typeof t === "number" ? t : Date.parse(t) / 1000);
  const time = (t) => (t == null ? "—" : new Date(epoch(t) * 1000).toLocaleString());
  const clock = (t) => (t == null ? "—" : new Date(epoch(t) * 1000).toLocaleTimeString());
  const num = (n) => (n == null ? "—" : Number(n).toLocaleString("en-US"));
  const secs = (s) => (s == null ? "—" : s < 90 ? `${Number(s).toFixed(1)} s` : `${(s / 60).toFixed(1)} min`);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) if (c != null) node.append(c instanceof Node ? c : String(c));
    return node;
  }

  function facts(dl, pairs) {
    dl.replaceChildren(...pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v == null ? "—" : v)]));
  }

  function notes(container, list) {
    container.replaceChildren(...(list || []).map((n) => el("p", { class: "note" }, n)));
  }

  const PHASE_CLASS = { Ready: "ok", Completed: "ok", Progressing: "info", Paused: "warn", Starting: "info",
    Degraded: "warn", Aborting: "warn", Aborted: "bad", Failed: "bad", Pending: "", Stopped: "" };
  const badge = (phase) => el("span", { class: "badge " + (PHASE_CLASS[phase] || "") }, phase);

  return { act, say, stream, epoch, time, clock, num, secs, el, facts, notes, badge };
})();
