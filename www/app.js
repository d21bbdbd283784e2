// The edge-auth console: admin key management, self-service PATs, and a request tester.
// Plain ES module, no dependencies, no inline code (the Worker serves it with a strict CSP).

const $ = (id) => document.getElementById(id);
// The admin API lives at the console's parent path: /_auth/console/ → /_auth.
const API = location.pathname.replace(/\/console(\/.*)?$/, "");
const ADMIN_KEY = "edge-auth.admin-token";
const USER_KEY = "edge-auth.user-jwt";

// ---------- small helpers ----------

function notify(message, kind = "info") {
  const n = $("notice");
  n.textContent = message;
  n.className = `notice ${kind}`;
  n.hidden = false;
}
function clearNotice() { $("notice").hidden = true; }

function when(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  return new Date(seconds * 1000).toLocaleString();
}

/** Explain an API error in plain words, from its problem+json when there is one. */
async function explain(res) {
  let problem = null;
  try { problem = await res.json(); } catch { /* not JSON */ }
  const base = {
    400: "The request was not accepted",
    401: "The credential was refused",
    403: "Not allowed",
    404: "Not found",
    413: "The request is too large",
    503: "The service is temporarily unavailable",
  }[res.status] ?? `Unexpected answer (${res.status})`;
  return problem?.detail ? `${base}: ${problem.detail}` : `${base}.`;
}

/** Run `work` with `button` marked busy. */
async function busy(button, work) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try { return await work(); } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

async function api(path, { token, method = "GET", body } = {}) {
  const headers = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  return fetch(`${API}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function showToken(token) {
  $("reveal-token").textContent = token;
  $("reveal").hidden = false;
  $("reveal-copy").focus();
}

// ---------- tabs ----------

const tabs = ["admin", "mine", "try"];
function select(name) {
  for (const t of tabs) {
    const tab = $(`tab-${t}`);
    const on = t === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    $(`view-${t}`).hidden = !on;
  }
  clearNotice();
}
for (const t of tabs) {
  $(`tab-${t}`).addEventListener("click", () => select(t));
  $(`tab-${t}`).addEventListener("keydown", (e) => {
    const i = tabs.indexOf(t);
    const next = e.key === "ArrowRight" ? tabs[(i + 1) % tabs.length] : e.key === "ArrowLeft" ? tabs[(i + tabs.length - 1) % tabs.length] : null;
    if (next) { select(next); $(`tab-${next}`).focus(); }
  });
}

// ---------- admin ----------

let adminToken = sessionStorage.getItem(ADMIN_KEY);

async function adminCheck(token) {
  // Any admin call tells whether the token is accepted; listing an unlikely subject is harmless.
  return api(`/keys?subject=${encodeURIComponent("console-token-check")}`, { token });
}

function adminShow() {
  $("admin-login").hidden = Boolean(adminToken);
  $("admin-main").hidden = !adminToken;
}

$("admin-login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const token = $("admin-token").value.trim();
  await busy(e.submitter ?? $("admin-login").querySelector("button"), async () => {
    const res = await adminCheck(token);
    if (res.ok) {
      adminToken = token;
      sessionStorage.setItem(ADMIN_KEY, token);
      $("admin-token").value = "";
      adminShow();
      notify("Admin token accepted.", "ok");
      $("list-subject").focus();
    } else {
      notify(await explain(res), "error");
    }
  });
});

$("admin-logout").addEventListener("click", () => {
  adminToken = null;
  sessionStorage.removeItem(ADMIN_KEY);
  adminShow();
  $("key-list").hidden = true;
});

let listedSubject = null;

async function loadKeys(subject) {
  const res = await api(`/keys?subject=${encodeURIComponent(subject)}`, { token: adminToken });
  if (!res.ok) { notify(await explain(res), "error"); return; }
  const { keys } = await res.json();
  listedSubject = subject;
  $("key-list-title").textContent = `Keys of ${subject}`;
  const rows = $("key-rows");
  rows.replaceChildren();
  for (const k of keys) {
    const tr = document.createElement("tr");
    tr.dataset.id = k.id;
    tr.append(cell(k.name), cell(k.kind === "pat" ? "PAT" : "API key"), cell(k.id, "mono"), cell(k.start ? `${k.start}…` : "—", "mono"),
      cell(k.scopes.join(" ") || "—"), cell(when(k.created_at)), cell(when(k.expires_at)), cell(when(k.last_used_at)),
      cell(k.status, `status-${k.status}`));
    const actions = document.createElement("td");
    if (k.status === "active") {
      const roll = document.createElement("button");
      roll.type = "button"; roll.className = "secondary small"; roll.textContent = "Roll";
      roll.setAttribute("aria-label", `Roll ${k.name}`);
      roll.addEventListener("click", () => rollKey(k, roll));
      const revoke = document.createElement("button");
      revoke.type = "button"; revoke.className = "danger small"; revoke.textContent = "Revoke";
      revoke.setAttribute("aria-label", `Revoke ${k.name}`);
      revoke.addEventListener("click", () => revokeKey(k, revoke));
      actions.append(roll, revoke);
    }
    tr.append(actions);
    rows.append(tr);
  }
  $("key-empty").hidden = keys.length > 0;
  $("key-list").hidden = false;
}

async function revokeKey(k, button) {
  if (!confirm(`Revoke "${k.name}" (${k.id})? Requests with it will be refused.`)) return;
  await busy(button, async () => {
    const res = await api(`/keys/${encodeURIComponent(k.id)}`, { token: adminToken, method: "DELETE" });
    if (res.status === 204) { notify(`Revoked ${k.name}.`, "ok"); await loadKeys(listedSubject); }
    else notify(await explain(res), "error");
  });
}

async function rollKey(k, button) {
  const answer = prompt(`Roll "${k.name}": how many seconds may the old key keep working?`, "3600");
  if (answer === null) return;
  const grace = Number(answer);
  if (!Number.isInteger(grace) || grace < 0) { notify("The grace period must be a whole number of seconds.", "error"); return; }
  await busy(button, async () => {
    const res = await api(`/keys/${encodeURIComponent(k.id)}/roll`, { token: adminToken, method: "POST", body: { grace_seconds: grace } });
    if (res.status === 201) {
      const fresh = await res.json();
      showToken(fresh.token);
      await loadKeys(listedSubject);
    } else notify(await explain(res), "error");
  });
}

$("list-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  await busy(e.submitter ?? $("list-form").querySelector("button"), () => loadKeys($("list-subject").value.trim()));
});

$("create-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = {
    kind: $("create-kind").value,
    subject: $("create-subject").value.trim(),
    name: $("create-name").value.trim(),
    scopes: $("create-scopes").value.split(/\s+/).filter(Boolean),
  };
  const expiry = $("create-expiry").value;
  if (expiry) body.expires_in = Number(expiry);
  await busy(e.submitter ?? $("create-form").querySelector("button"), async () => {
    const res = await api("/keys", { token: adminToken, method: "POST", body });
    if (res.status !== 201) { notify(await explain(res), "error"); return; }
    const created = await res.json();
    showToken(created.token);
    $("list-subject").value = created.subject;
    await loadKeys(created.subject);
  });
});

// ---------- token reveal ----------

$("reveal-copy").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText($("reveal-token").textContent);
    $("reveal-copy").textContent = "Copied";
  } catch {
    notify("Copy was blocked by the browser: select the token and copy it by hand.", "error");
  }
});
$("reveal-done").addEventListener("click", () => {
  $("reveal").hidden = true;
  $("reveal-token").textContent = "";
  $("reveal-copy").textContent = "Copy";
});

// ---------- my tokens ----------

let userJwt = sessionStorage.getItem(USER_KEY);

/** The JWT's payload, decoded for display only (the edge verifies it). */
function claimsOf(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
  } catch { return null; }
}

function scopesOf(claims) {
  if (!claims) return [];
  if (typeof claims.scope === "string") return claims.scope.split(/\s+/).filter(Boolean);
  if (Array.isArray(claims.scp)) return claims.scp.filter((s) => typeof s === "string");
  return [];
}

async function loadPats() {
  const res = await api("/pats", { token: userJwt });
  if (!res.ok) {
    notify(await explain(res), "error");
    return false;
  }
  const { keys } = await res.json();
  const rows = $("pat-rows");
  rows.replaceChildren();
  for (const k of keys) {
    const tr = document.createElement("tr");
    tr.dataset.id = k.id;
    tr.append(cell(k.name), cell(k.id, "mono"), cell(k.start ? `${k.start}…` : "—", "mono"), cell(k.scopes.join(" ") || "—"),
      cell(when(k.expires_at)), cell(k.status, `status-${k.status}`));
    const actions = document.createElement("td");
    if (k.status === "active") {
      const revoke = document.createElement("button");
      revoke.type = "button"; revoke.className = "danger small"; revoke.textContent = "Revoke";
      revoke.setAttribute("aria-label", `Revoke ${k.name}`);
      revoke.addEventListener("click", async () => {
        if (!confirm(`Revoke "${k.name}"?`)) return;
        await busy(revoke, async () => {
          const r = await api(`/pats/${encodeURIComponent(k.id)}`, { token: userJwt, method: "DELETE" });
          if (r.status === 204) { notify(`Revoked ${k.name}.`, "ok"); await loadPats(); }
          else notify(await explain(r), "error");
        });
      });
      actions.append(revoke);
    }
    tr.append(actions);
    rows.append(tr);
  }
  $("pat-empty").hidden = keys.length > 0;
  return true;
}

async function mineShow() {
  $("mine-login").hidden = Boolean(userJwt);
  $("mine-main").hidden = !userJwt;
  if (!userJwt) return;
  const claims = claimsOf(userJwt);
  $("mine-who").textContent = claims?.sub ? `Signed in as ${claims.sub}.` : "Signed in.";
  const box = $("pat-scopes");
  box.replaceChildren();
  for (const s of scopesOf(claims)) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "checkbox"; input.value = s; input.name = "pat-scope";
    label.append(input, document.createTextNode(s));
    box.append(label);
  }
  if (!(await loadPats())) {
    userJwt = null;
    sessionStorage.removeItem(USER_KEY);
    $("mine-login").hidden = false;
    $("mine-main").hidden = true;
  }
}

$("mine-login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const jwt = $("mine-jwt").value.trim();
  if (!claimsOf(jwt)) { notify("That does not look like a JWT (three dot-separated parts).", "error"); return; }
  userJwt = jwt;
  sessionStorage.setItem(USER_KEY, jwt);
  $("mine-jwt").value = "";
  await busy(e.submitter ?? $("mine-login").querySelector("button"), mineShow);
});

$("mine-logout").addEventListener("click", () => {
  userJwt = null;
  sessionStorage.removeItem(USER_KEY);
  mineShow();
});

$("pat-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const scopes = [...document.querySelectorAll("input[name=pat-scope]:checked")].map((i) => i.value);
  const body = { name: $("pat-name").value.trim(), scopes, expires_in: Number($("pat-expiry").value) };
  await busy(e.submitter ?? $("pat-form").querySelector("button"), async () => {
    const res = await api("/pats", { token: userJwt, method: "POST", body });
    if (res.status !== 201) { notify(await explain(res), "error"); return; }
    showToken((await res.json()).token);
    $("pat-name").value = "";
    await loadPats();
  });
});

// ---------- try it ----------

function fillList(dl, entries) {
  dl.replaceChildren();
  for (const [k, v] of entries) {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = String(v);
    dl.append(dt, dd);
  }
}

$("try-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const headers = {};
  const credential = $("try-credential").value.trim();
  const via = $("try-via").value;
  if (credential && via === "bearer") headers.authorization = `Bearer ${credential}`;
  if (credential && via === "x-api-key") headers["x-api-key"] = credential;
  const method = $("try-method").value;
  const path = $("try-path").value.trim();
  if (!path.startsWith("/")) { notify("The path must start with /.", "error"); return; }
  await busy(e.submitter ?? $("try-form").querySelector("button"), async () => {
    let res;
    try {
      res = await fetch(path, { method, headers, cache: "no-store" });
    } catch {
      notify("The request did not complete (network error).", "error");
      return;
    }
    clearNotice();
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    $("try-status").textContent = `${res.status} ${res.statusText}`;
    $("try-body").textContent = text;
    const isProblem = (res.headers.get("content-type") ?? "").includes("problem+json");
    $("try-problem-wrap").hidden = !isProblem;
    if (isProblem && json) {
      fillList($("try-problem"), ["title", "status", "detail", "error", "request_id"].filter((k) => json[k] !== undefined).map((k) => [k, json[k]]));
    }
    const seen = json?.headers && typeof json.headers === "object" ? json.headers : null;
    const identity = seen ? Object.entries(seen).filter(([k]) => k.toLowerCase().startsWith("x-auth-")) : [];
    $("try-identity-wrap").hidden = identity.length === 0;
    fillList($("try-identity"), identity);
    $("try-result").hidden = false;
  });
});

// ---------- start ----------

adminShow();
mineShow();
