// mock-as dashboard: polls the control API (/_mock/...) and calls it for every action.
// No framework, no build step. Data only ever reaches the page as text (textContent), never
// as markup. With --admin-token the control API (and this page) need
// `Authorization: Bearer <token>`; the script sends the token kept in sessionStorage
// ("mockAsAdminToken") when there is one.
"use strict";

const $ = (id) => document.getElementById(id);
const FAULT_ENDPOINTS = ["discovery", "jwks", "register", "authorize", "token", "revoke",
  "introspect", "userinfo", "license", "connections", "mgmt", "upstream", "oauth2", "other"];

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") e.addEventListener("click", v);
    else if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function showError(message) {
  const e = $("error");
  if (message) { e.textContent = message; e.hidden = false; } else { e.textContent = ""; e.hidden = true; }
}

async function api(method, path, body) {
  const headers = {};
  const token = sessionStorage.getItem("mockAsAdminToken");
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch("/_mock" + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store",
  });
  let v = null;
  try { v = await r.json(); } catch (_) { v = null; }
  if (!r.ok) {
    const why = v && (v.message || v.error) ? `${v.error}: ${v.message}` : `HTTP ${r.status}`;
    throw new Error(`${method} /_mock${path}: ${why}`);
  }
  return v;
}

// Run an action, show its error (or clear the last one), refresh the panels.
async function act(fn) {
  try { await fn(); showError(""); } catch (e) { showError(e.message); }
  await refresh(true);
}

const time = (secs) => (secs ? new Date(secs * 1000).toISOString().replace(".000Z", "Z") : "");
const short = (s) => (s && s.length > 14 ? s.slice(0, 12) + "…" : s || "");

// Replace a table body only when its data changed (so buttons do not vanish under the mouse).
const last = {};
function fill(id, rows, render) {
  const key = JSON.stringify(rows);
  if (last[id] === key) return;
  last[id] = key;
  const body = $(id).tBodies[0];
  body.replaceChildren(...rows.map(render));
}

// ---- journal: appended as entries arrive ----
let nextSeq = 0;
function journalRow(j) {
  const tr = el("tr", { "data-seq": j.seq, "data-path": j.path, class: j.status >= 400 ? "dropped" : "" },
    el("td", {}, j.seq), el("td", {}, new Date(j.time_ms).toISOString().slice(11, 23)),
    el("td", {}, j.method), el("td", {}, el("code", {}, j.path)), el("td", {}, j.endpoint),
    el("td", {}, j.credential), el("td", {}, j.status), el("td", {}, j.outcome),
    el("td", {}, j.detail || (j.passthrough ? "token passthrough" : "")));
  applyFilter(tr);
  return tr;
}
function applyFilter(tr) {
  const f = $("journal-filter").value.trim().toLowerCase();
  tr.hidden = f !== "" && !tr.textContent.toLowerCase().includes(f);
}
async function pollJournal() {
  const v = await api("GET", `/journal?since_seq=${nextSeq}&limit=500`);
  const body = $("journal").tBodies[0];
  for (const j of v.entries) body.prepend(journalRow(j));
  nextSeq = v.next_seq;
  while (body.rows.length > 1000) body.deleteRow(-1);
}

// ---- the other panels: re-read every two seconds ----
async function refreshSessions() {
  const v = await api("GET", "/sessions");
  fill("sessions", v.sessions, (s) => el("tr", { "data-session": s.id, class: s.revoked ? "dropped" : "" },
    el("td", { title: s.id }, el("code", {}, short(s.id))), el("td", {}, s.user_id || "(client)"),
    el("td", {}, s.client_id), el("td", {}, s.server_id), el("td", {}, s.scopes.join(" ")),
    el("td", {}, `${s.access_tokens.length} access, ${s.refresh_tokens} refresh`),
    el("td", { class: "state" }, s.revoked ? `revoked (${s.revoked_reason || ""})` : "active"),
    el("td", {}, s.revoked ? "" : el("button", { type: "button", class: "danger revoke",
      onclick: () => act(() => api("POST", "/revoke", { session: s.id })) }, "Revoke"))));
}
async function refreshTokens() {
  const v = await api("GET", "/tokens");
  fill("tokens", v.tokens.slice(0, 200), (t) => el("tr", { "data-jti": t.jti, class: t.revoked ? "dropped" : "" },
    el("td", { title: t.jti }, el("code", {}, short(t.jti))), el("td", {}, t.user_id || ""),
    el("td", { title: t.session_id || "" }, short(t.session_id)), el("td", {}, time(t.exp)),
    el("td", { class: "state" }, t.revoked ? "revoked" : t.expired ? "expired" : "active"),
    el("td", {}, t.revoked ? "" : el("button", { type: "button", class: "danger revoke",
      onclick: () => act(() => api("POST", "/revoke", { jti: t.jti })) }, "Revoke"))));
}
async function refreshConnections() {
  const v = await api("GET", "/connections");
  fill("connections", v.connections, (c) => el("tr", { "data-connection": c.id },
    el("td", { title: c.id }, el("code", {}, short(c.id))), el("td", {}, c.appId), el("td", {}, c.userId || ""),
    el("td", {}, c.tenantId || ""), el("td", {}, (c.scopes || []).join(" ")), el("td", {}, time(c.accessTokenExpiry)),
    el("td", {}, c.grantedBy),
    el("td", {}, el("button", { type: "button", class: "danger revoke",
      onclick: () => act(() => api("DELETE", "/connections/" + encodeURIComponent(c.id))) }, "Revoke"))));
}
async function refreshKeys() {
  const v = await api("GET", "/keys");
  fill("keys", v.keys, (k) => el("tr", { "data-kid": k.kid },
    el("td", {}, el("code", {}, k.kid)), el("td", {}, k.alg), el("td", { class: "state" }, k.stage),
    el("td", {},
      k.stage === "published" || k.stage === "active" ? el("button", { type: "button", class: "retire",
        onclick: () => act(() => api("POST", "/keys/retire", { kid: k.kid })) }, "Retire") : "",
      k.stage !== "active" ? el("button", { type: "button", class: "activate",
        onclick: () => act(() => api("POST", "/keys/activate", { kid: k.kid })) }, "Activate") : "")));
}
async function refreshFaults() {
  const v = await api("GET", "/faults");
  fill("faults", v.faults, (f) => el("tr", { "data-fault": f.id },
    el("td", {}, f.id), el("td", {}, f.endpoint || ""), el("td", {}, f.path_prefix || ""), el("td", {}, f.method || ""),
    el("td", {}, f.status || ""), el("td", {}, f.delay_ms || ""), el("td", {}, f.count === null || f.count === undefined ? "∞" : f.count),
    el("td", {}, el("button", { type: "button", onclick: () => act(() => api("DELETE", "/faults/" + f.id)) }, "Clear"))));
}
async function refreshClock() {
  const v = await api("GET", "/clock");
  $("clock-now").textContent = time(v.now);
  $("clock-offset").textContent = v.offset_secs;
}
async function refreshInfo() {
  const v = await api("GET", "/info");
  $("summary").textContent = `project ${v.project_id} at ${v.base_url} · consent ${v.consent} · ` +
    `${v.servers.length} MCP servers · everything here calls the control API (/_mock/...)`;
}

// ---- policies: loaded on open and on Reload (not polled: that would eat your edits) ----
function policyEditor(label, path, rules) {
  const area = el("textarea", { "aria-label": label, spellcheck: "false" });
  area.value = JSON.stringify(rules, null, 2);
  const status = el("span", { class: "muted" });
  const save = el("button", { type: "button", onclick: async () => {
    let parsed;
    try { parsed = JSON.parse(area.value); } catch (e) { status.textContent = "not JSON: " + e.message; status.className = "dropped"; return; }
    try {
      await api("PUT", path, parsed);
      status.textContent = "saved"; status.className = "granted";
    } catch (e) { status.textContent = e.message; status.className = "dropped"; }
  } }, "Save");
  return el("div", { class: "card", "data-policy": path }, el("strong", {}, label), " ", save, " ", status, area);
}
async function loadPolicies() {
  const v = await api("GET", "/policies");
  const parts = [policyEditor("Connections Policy", "/policies/connections", v.connections)];
  for (const [sid, rules] of Object.entries(v.consent)) {
    parts.push(policyEditor(`MCP Server Policy of ${sid}`, "/policies/consent/" + encodeURIComponent(sid), rules));
  }
  $("policies").replaceChildren(...parts);
}

let lastPanels = 0;
async function refresh(now) {
  try {
    await pollJournal();
    if (now || Date.now() - lastPanels > 2000) {
      lastPanels = Date.now();
      await Promise.all([refreshSessions(), refreshTokens(), refreshConnections(), refreshKeys(),
        refreshFaults(), refreshClock()]);
    }
    $("live").textContent = "live";
    $("live").className = "pill granted";
  } catch (e) {
    $("live").textContent = "disconnected";
    $("live").className = "pill dropped";
    showError(e.message);
  }
}

function wire() {
  for (const e of FAULT_ENDPOINTS) $("fault-endpoint").append(el("option", { value: e }, e));
  $("journal-clear").addEventListener("click", () => act(async () => {
    await api("DELETE", "/journal");
    $("journal").tBodies[0].replaceChildren();
    nextSeq = 0;
  }));
  $("journal-filter").addEventListener("input", () => { for (const tr of $("journal").tBodies[0].rows) applyFilter(tr); });
  $("keys-rotate").addEventListener("click", () => act(() => api("POST", "/keys/rotate")));
  $("clock-hour").addEventListener("click", () => act(() => api("POST", "/clock", { advance_secs: 3600 })));
  $("clock-day").addEventListener("click", () => act(() => api("POST", "/clock", { advance_secs: 86400 })));
  $("clock-reset").addEventListener("click", () => act(() => api("POST", "/clock", { offset_secs: 0 })));
  $("clock-apply").addEventListener("click", () => act(() => {
    const n = Number($("clock-set").value);
    if (!Number.isInteger(n)) throw new Error("the clock offset must be a whole number of seconds");
    return api("POST", "/clock", { offset_secs: n });
  }));
  $("fault-arm").addEventListener("click", () => act(() => {
    const body = { endpoint: $("fault-endpoint").value };
    const num = (id) => ($(id).value.trim() === "" ? undefined : Number($(id).value));
    if (num("fault-status") !== undefined) body.status = num("fault-status");
    if (num("fault-count") !== undefined) body.count = num("fault-count");
    if (num("fault-delay") !== undefined) body.delay_ms = num("fault-delay");
    return api("POST", "/faults", body);
  }));
  $("fault-clear").addEventListener("click", () => act(() => api("DELETE", "/faults")));
  $("policies-reload").addEventListener("click", () => act(loadPolicies));
}

wire();
refreshInfo().catch((e) => showError(e.message));
loadPolicies().catch((e) => showError(e.message));
refresh(true);
setInterval(() => refresh(false), 1000);
