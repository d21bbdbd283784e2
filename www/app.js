// edge-auth console: admin key management, self-service PATs and a request tester.
// One plain ES module: no dependencies, no inline code, no third-party requests (strict CSP).

const $ = (id) => document.getElementById(id);
const on = (id, event, fn) => $(id).addEventListener(event, fn);

// The console lives at {admin_path}/console/…; the admin API is {admin_path} (which may end in /console).
const API = location.pathname.replace(/^(.*)\/console(?:\/[^/]*)?$/, "$1");

// Credentials live in memory only (storage outlives the tab, and the origin's scripts share it);
// what older versions stored is removed.
const creds = { admin: null, user: null };
for (const name of ["edge-auth.admin", "edge-auth.user"]) {
  try { sessionStorage.removeItem(name); } catch { /* blocked */ }
}
function remember(kind, value) {
  creds[kind] = value || null;
}

// ---------- messages ----------

/** Show a message: `error` ones go to the role=alert region, others to the status region. */
function note(message, error = false) {
  $("status").textContent = $("error").textContent = "";
  if (message) $(error ? "error" : "status").textContent = message;
}

const PLAIN = {
  400: "The request was not accepted",
  401: "The credential was not accepted",
  403: "That is not allowed",
  404: "Not found",
  409: "That cannot be done in the key's current state",
  413: "The request is too large",
  429: "Too many requests: wait a moment",
  500: "The edge had an internal problem",
  503: "The service is briefly unavailable: try again",
};

/** A sentence for a failed answer, from its problem+json (detail, else title) when there is one. */
function explain(status, problem) {
  const detail = problem?.detail || problem?.title;
  if (!status) return detail || "The request did not complete.";
  const base = PLAIN[status] ?? `Unexpected answer (HTTP ${status})`;
  return detail && detail !== base ? `${base}. ${detail}` : `${base}.`;
}

class ApiError extends Error {
  constructor(status, problem) {
    super(explain(status, problem));
    this.status = status;
  }
}
/** Thrown when the problem was already shown (a refused credential signed the user out). */
class Reported extends Error {}

/**
 * Call the admin API with the `kind` credential ("admin" or "user"); resolves with the JSON body
 * (null for 204). A 401 (or 403 for the admin) forgets the credential and signs out.
 */
async function api(kind, path, { method = "GET", body, token = creds[kind], probe = false } = {}) {
  const headers = { accept: "application/json", authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  let res;
  try {
    res = await fetch(API + path, { method, headers, cache: "no-store", credentials: "omit", body: body && JSON.stringify(body) });
  } catch {
    throw new ApiError(0, { detail: "Could not reach the edge. Check your connection." });
  }
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (res.ok) return json;
  const error = new ApiError(res.status, json);
  if (!probe && (res.status === 401 || (kind === "admin" && res.status === 403))) {
    signOut(kind, `${error.message} Sign in again.`);
    throw new Reported();
  }
  throw error;
}

/** Run `work` with `button` disabled and `region` marked busy; failures are shown. */
async function busy(button, region, work) {
  for (const node of [button, region]) node?.setAttribute("aria-busy", "true");
  if (button) button.disabled = true;
  try {
    return await work();
  } catch (e) {
    if (e instanceof Reported) return undefined;
    if (!(e instanceof ApiError)) console.error(e);
    note(e instanceof ApiError ? e.message : "Something went wrong in the console.", true);
    return undefined;
  } finally {
    if (button) button.disabled = false;
    for (const node of [button, region]) node?.removeAttribute("aria-busy");
  }
}

/** Handle a form's submit with its button busy. */
function onSubmit(id, region, work) {
  on(id, "submit", (e) => {
    e.preventDefault();
    busy(e.submitter ?? e.target.querySelector("[type=submit]"), region && $(region), work);
  });
}

// ---------- formatting ----------

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const UNITS = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
const date = (seconds) => dateFormat.format(new Date(seconds * 1000));

/** "in 3 days", "5 minutes ago". */
function ago(seconds) {
  const delta = seconds - Date.now() / 1000;
  const [unit, size] = UNITS.find(([, s]) => Math.abs(delta) >= s) ?? UNITS[5];
  return relative.format(Math.round(delta / size), unit);
}

/** A <time> element for Unix seconds, or `none`. */
function when(seconds, none = "—") {
  if (typeof seconds !== "number") return none;
  return el("time", { dateTime: new Date(seconds * 1000).toISOString(), title: ago(seconds) }, date(seconds));
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k in node) node[k] = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

const scopeList = (scopes) => (scopes?.length ? el("span", { className: "scopes" }, ...scopes.map((s) => el("code", {}, s))) : el("span", { className: "muted" }, "none"));
const button = (label, className, aria, onclick) => el("button", { type: "button", className: `small ${className}`, onclick, "aria-label": aria }, label);

const row = (cells, attrs) => el("tr", attrs, ...cells.map((c) => el("td", {}, c)));

/** A table row of key metadata; `actions` maps a label to a handler for active keys. */
function keyRow(k, admin, actions) {
  const tr = row([k.name, ...(admin ? [k.kind === "pat" ? "PAT" : "API key", k.subject] : []), el("code", {}, k.id),
    k.start ? el("code", {}, `${k.start}…`) : "—", scopeList(k.scopes), when(k.created_at), when(k.expires_at, "never"),
    when(k.last_used_at, "never"), el("span", { className: `badge badge-${k.rolling ? "rolling" : k.status}` }, k.rolling ? `rolling, ends ${ago(k.expires_at)}` : k.status)], { "data-id": k.id });
  const td = el("td", { className: "actions-cell" });
  if (k.status === "active") {
    for (const [label, fn] of Object.entries(actions)) {
      td.append(button(label, label === "Revoke" ? "danger" : "ghost", `${label} ${k.name} (${k.id})`, (e) => fn(k, e.currentTarget)));
    }
  }
  tr.append(td);
  return tr;
}

// ---------- dialogs ----------

let revealReturn = null;
// Escape is refused until the token is copied or acknowledged.
let revealSafe = false;

/** Show a freshly issued token once; focus goes to `returnTo` afterwards. */
function reveal(issued, returnTo, { replaces } = {}) {
  revealReturn = returnTo;
  revealSafe = false;
  $("reveal-token").value = issued.token;
  const url = sameOrigin($("try-path").value.trim())?.href ?? `${location.origin}/`;
  $("reveal-curl").value = `curl -H "Authorization: Bearer ${issued.token}" '${url.replace(/'/g, "%27")}'`;
  $("reveal-meta").textContent = `${issued.kind === "pat" ? "Personal access token" : "API key"} “${issued.name}” for ${issued.subject}, ` +
    (typeof issued.expires_at === "number" ? `expires ${date(issued.expires_at)}.` : "never expires.") +
    (replaces ? ` It replaces ${replaces.id}.` : "");
  $("reveal-copied").textContent = "";
  $("reveal").showModal();
  $("reveal-token").select();
}
async function copyFrom(id, what) {
  const input = $(id);
  try {
    await navigator.clipboard.writeText(input.value);
    revealSafe = true;
    $("reveal-copied").textContent = `Copied the ${what}.`;
  } catch {
    input.select();
    $("reveal-copied").textContent = `The browser blocked copying: the ${what} is selected, press Ctrl+C (⌘C).`;
  }
}
on("reveal-copy", "click", () => copyFrom("reveal-token", "token"));
on("reveal-curl-copy", "click", () => copyFrom("reveal-curl", "curl line"));
on("reveal", "copy", () => { revealSafe = true; });
function holdToken(e) {
  if (revealSafe) return;
  e.preventDefault();
  $("reveal-copied").textContent = "Not copied yet: copy it, or choose “I have stored it”.";
  $("reveal-copy").focus();
}
on("reveal", "keydown", (e) => { if (e.key === "Escape") holdToken(e); });
on("reveal", "cancel", holdToken);
// The token leaves the page as soon as the dialog closes.
const forget = () => { $("reveal-token").value = ""; $("reveal-curl").value = ""; };
on("reveal-done", "click", () => { revealSafe = true; forget(); $("reveal").close(); });
on("reveal", "close", () => { forget(); revealReturn?.focus(); });

/** Ask for confirmation: resolves with false, true, or (`grace`) the chosen grace seconds. */
function ask({ title, text, ok, grace = false }) {
  const d = $("ask");
  $("ask-title").textContent = title;
  $("ask-text").textContent = text;
  $("ask-ok").textContent = ok;
  $("ask-grace-wrap").hidden = !grace;
  const back = document.activeElement;
  return new Promise((resolve) => {
    const done = (answer) => {
      d.onclose = $("ask-ok").onclick = $("ask-cancel").onclick = null;
      if (d.open) d.close();
      if (back?.isConnected) back.focus();
      resolve(answer);
    };
    $("ask-ok").onclick = () => done(grace ? Number($("ask-grace").value) : true);
    $("ask-cancel").onclick = d.onclose = () => done(false);
    d.showModal();
    $(grace ? "ask-grace" : "ask-cancel").focus();
  });
}

// ---------- tabs ----------

const TABS = ["admin", "mine", "try"];
function selectTab(name, focus) {
  for (const t of TABS) {
    $(`tab-${t}`).setAttribute("aria-selected", String(t === name));
    $(`tab-${t}`).tabIndex = t === name ? 0 : -1;
    $(`view-${t}`).hidden = t !== name;
  }
  if (focus) $(`tab-${name}`).focus();
  note();
  $("try-use-jwt").hidden = !creds.user;
}
for (const [i, t] of TABS.entries()) {
  on(`tab-${t}`, "click", () => selectTab(t));
  on(`tab-${t}`, "keydown", (e) => {
    const to = { ArrowRight: i + 1, ArrowLeft: i + 2, Home: 0, End: 2 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    selectTab(TABS[to % 3], true);
  });
}

/** Forget a credential and show its sign-in form (with `message` as an error, if any). */
function signOut(kind, message) {
  remember(kind, null);
  $("try-credential").value = "";
  if (kind === "admin") { adminShow(); $("key-rows").replaceChildren(); $("audit-rows").replaceChildren(); $("key-list").hidden = $("key-panel").hidden = true; }
  else mineShow();
  note(message, true);
  $(kind === "admin" ? "admin-token" : "mine-jwt").focus();
}

// ---------- admin ----------

/** A list read from `path` (its `field` array) a page at a time, drawn by `show`; {id}-more loads the next. */
function pager(path, field, id, show) {
  const p = { items: [], pages: 0 };
  p.next = async () => {
    const page = await api("admin", `${path}?${p.query}${p.cursor ? `&cursor=${encodeURIComponent(p.cursor)}` : ""}`);
    p.items.push(...(page?.[field] ?? []));
    p.cursor = page?.cursor;
    p.pages++;
  };
  // Reloads as many pages as are shown, unless told.
  p.load = async (query = p.query, n = p.pages || 1) => {
    Object.assign(p, { query, items: [], pages: 0, cursor: undefined });
    do await p.next(); while (--n && p.cursor);
    show();
  };
  // Then focus the first new row's first button, else "Load more", else the list.
  on(`${id}-more`, "click", async (e) => {
    const from = p.items.length;
    await busy(e.currentTarget, $(`${id}-list`), async () => {
      await p.next();
      show();
      note($(`${id}-caption`).textContent);
    });
    ($(`${id}-rows`).children[from]?.querySelector("button") ?? (p.cursor ? $(`${id}-more`) : $(`${id}-list`))).focus();
  });
  return p;
}
const more = (p, what) => `${p.items.length} ${what}${p.items.length === 1 ? "" : "s"}${p.cursor ? " so far, more to load" : ""}`;

const keyList = pager("/keys", "keys", "key", showKeys), loadKeys = keyList.load;

function adminShow() {
  $("admin-login").hidden = Boolean(creds.admin);
  $("admin-main").hidden = !creds.admin;
}

onSubmit("admin-login", null, async () => {
  const token = $("admin-token").value.trim();
  // Listing an unused subject is harmless and tells whether the token is an admin's.
  try {
    await api("admin", "/keys?subject=console-sign-in-check", { token, probe: true });
  } catch (e) {
    if (e.status === 401 || e.status === 403) throw new ApiError(e.status, { detail: "That is not the admin token (or it has no admin rights)." });
    throw e;
  }
  remember("admin", token);
  $("admin-token").value = "";
  adminShow();
  note("Signed in as admin.");
  $("list-subject").focus();
  busy(null, null, loadAudit);
});
on("admin-logout", "click", () => { signOut("admin"); note("Signed out: the admin token was forgotten."); });

function showKeys() {
  const keys = keyList.items, q = new URLSearchParams(keyList.query), subject = q.get("subject"), name = q.get("name_prefix");
  // A rolled key keeps working until its grace ends; its successor has its subject and name and is newer.
  for (const k of keys) k.rolling = k.status === "active" && k.expires_at && keys.some((o) => o !== k && o.subject === k.subject && o.name === k.name && o.created_at >= k.created_at);
  panelKey = keys.find((k) => k.id === panelKey?.id && k.status === "active");
  $("key-panel").hidden = !panelKey;
  $("key-caption").textContent = `${subject ?? "Every subject"}${name ? `, names starting “${name}”` : ""}: ${more(keyList, "key")}`;
  $("key-rows").replaceChildren(...keys.map((k) => keyRow(k, true, { Limits: openPanel, Roll: rollKey, Revoke: revokeKey })));
  $("key-empty").textContent = keyList.cursor ? "None matched yet: load more." : "No keys match.";
  $("key-empty").hidden = keys.length > 0;
  $("key-more").hidden = !keyList.cursor;
  $("key-list").hidden = false;
  if (subject && !$("create-subject").value) $("create-subject").value = subject;
}

onSubmit("list-form", "key-list", async () => {
  // Empty fields are left out: no subject lists every key.
  await loadKeys(new URLSearchParams([...new FormData($("list-form"))].map(([k, v]) => [k, v.trim()]).filter(([, v]) => v)).toString(), 1);
  note($("key-caption").textContent);
});

// ---------- audit log ----------

// Newest first; without AUTH_STATE (500 state_not_bound) the card stays hidden.
const audit = pager("/audit", "events", "audit", () => {
  $("audit-caption").textContent = `Audit log, newest first: ${more(audit, "event")}`;
  $("audit-rows").replaceChildren(...audit.items.map((e) => row([when(e.time), actor(e.actor),
    e.action + (e.detail ? ` (${Object.entries(e.detail).map((d) => d.join(": ")).join(", ")})` : ""),
    e.key_id ? el("code", {}, e.key_id) : "—", e.subject ?? "—", el("code", {}, e.request_id), e.ip ?? "—"])));
  $("audit-more").hidden = !audit.cursor;
});
const actor = ({ type, subject, issuer }) => type === "admin_token" ? "admin token" : subject ? `${type === "admin_jwt" ? "admin " : ""}${subject} (${issuer})` : type;
async function loadAudit() {
  try {
    await audit.load(`limit=${$("audit-limit").value || 50}`, 1);
    $("audit-form").hidden = false;
  } catch (e) { if (e.status !== 500) throw e; }
}
onSubmit("audit-form", "audit-list", async () => { await loadAudit(); note($("audit-caption").textContent); });

// How long a revocation takes to reach every location (README "Revocation latency"): health is
// read at the first revoke of a page load (each read costs a KV read), then remembered.
let reach;
const latency = () => (reach ??= fetch(`${API}/health`, { cache: "no-store", credentials: "omit" }).then((r) => r.json()).then(({ state: s }) =>
  s?.bound ? `within ${s.view?.max_staleness_seconds ? span(s.view.max_staleness_seconds) : "seconds"}` : s ? "within about 2.5 minutes" : "").catch(() => ""));

/** Confirm and revoke `k` through `path`, then reload `list`. */
async function revoke(kind, path, k, btn, reload, list) {
  const yes = await ask({
    title: `Revoke “${k.name}”?`,
    text: `Requests with ${k.start ? `${k.start}…` : k.id} are refused at every location ${(await latency()) || "as the revocation spreads"}. This cannot be undone.`,
    ok: "Revoke",
  });
  if (!yes) return;
  await busy(btn, $(list), async () => {
    await api(kind, `${path}/${encodeURIComponent(k.id)}`, { method: "DELETE" });
    await reload();
    note(`Revoked “${k.name}”.`);
    $(list).focus();
  });
}
const revokeKey = (k, btn) => revoke("admin", "/keys", k, btn, loadKeys, "key-list");

async function rollKey(k, btn) {
  const grace = await ask({
    title: `Roll “${k.name}”?`,
    text: `“${k.name}” (${k.id}, ${k.start}…): a new key with the same subject, name and scopes is created and shown once. The old key stops working after the grace period.`,
    ok: "Roll",
    grace: true,
  });
  if (grace === false) return;
  await busy(btn, $("key-list"), async () => {
    const issued = await api("admin", `/keys/${encodeURIComponent(k.id)}/roll`, { method: "POST", body: { grace_seconds: grace } });
    // Shown first: the key exists even if the list fails to reload.
    reveal(issued, $("key-list"), { replaces: k });
    note(`Rolled “${k.name}”: the old key ${grace ? `works until ${date(Date.now() / 1000 + grace)}` : "has stopped working"}.`);
    await loadKeys();
  });
}

// ---------- a key's usage, limits and credits ----------

let panelKey, limitSeq = 0;

/** "1 hour", "90 seconds". */
function span(s) {
  const [unit, size] = UNITS.find(([, n]) => s >= n && s % n === 0) ?? UNITS[5];
  return `${s / size} ${unit}${s === size ? "" : "s"}`;
}

function openPanel(k, btn) {
  panelKey = k;
  $("panel-title").textContent = `“${k.name}” (${k.id}): usage, limits and credits`;
  fillLimits(k);
  fillCredits(k);
  $("usage").replaceChildren();
  $("limits-form-error").textContent = $("credits-form-error").textContent = "";
  $("key-panel").hidden = false;
  $("panel-title").focus();
  busy(btn, $("usage-wrap"), loadUsage);
}
on("panel-close", "click", () => {
  $("key-panel").hidden = true;
  $("key-rows").querySelector(`[data-id="${panelKey.id}"] button`)?.focus();
});
on("usage-refresh", "click", (e) => busy(e.currentTarget, $("usage-wrap"), loadUsage));

async function loadUsage() {
  const k = panelKey;
  // 500 (state_not_bound): no AUTH_STATE, so no counters to show.
  const u = await api("admin", `/keys/${encodeURIComponent(k.id)}/usage`).catch((e) => { if (e.status !== 500) throw e; });
  $("usage-wrap").hidden = !u;
  if (!u) return;
  const c = u.credits, seen = u.limits.map((l) => l.name);
  const per = (l) => `${l.limit} per ${span(l.period_seconds)}${l.window === "sliding" ? " (sliding)" : ""}`;
  fillKv($("usage"), [
    ["credits", c ? `${c.remaining} left${c.leased ? `, ${c.leased} leased` : ""}${c.refill ? `; refilled to ${c.refill.amount} every ${span(c.refill.every_seconds)}, next ${ago(c.next_refill_at)}` : ""}` : "unmetered"],
    ...u.limits.map((l) => [`${l.name} (${l.by})`, `${l.used} / ${per(l)} used, resets ${ago(Date.now() / 1000 + l.reset_seconds)}`]),
    ...(k.limits ?? []).filter((l) => l.by !== "ip" && !seen.includes(l.name)).map((l) => [`${l.name} (${l.by})`, `0 / ${per(l)} used`]),
  ]);
}

/** One limit's fields; `extra` keeps what the form does not edit (cost, strict, on_unavailable). */
function limitRow(l = {}) {
  const n = ++limitSeq;
  const field = (name, label, control) => {
    Object.assign(control, { id: `lim${n}-${name}`, name, required: true });
    return el("div", {}, el("label", { htmlFor: control.id }, label), control);
  };
  const num = (name, min) => el("input", { type: "number", min, value: l[name] ?? "" });
  const choice = (options, value) => el("select", {}, ...options.map((o) => el("option", { selected: o === value }, o)));
  const row = el("fieldset", { className: "limit", "aria-label": `Limit ${l.name ?? "(new)"}` }, el("div", { className: "grid" },
    field("name", "Name", el("input", { maxLength: 64, value: l.name ?? "" })),
    field("limit", "Limit (requests)", num("limit", 1)),
    field("period_seconds", "Period (seconds)", num("period_seconds", 1)),
    field("by", "Counted by", choice(["key", "principal", "ip"], l.by)),
    field("window", "Window", choice(["fixed", "sliding"], l.window))),
  button("Remove", "ghost", `Remove limit ${l.name ?? n}`, () => { row.remove(); $("limit-add").focus(); }));
  row.extra = l;
  return row;
}
const fillLimits = (k) => $("limit-rows").replaceChildren(...(k.limits ?? []).map(limitRow));
function fillCredits({ credits: c }) {
  $("credits-remaining").value = c?.remaining ?? "";
  $("refill-amount").value = c?.refill?.amount ?? "";
  $("refill-every").value = c?.refill?.every_seconds ?? "";
}
on("limit-add", "click", () => {
  const row = limitRow();
  $("limit-rows").append(row);
  row.elements.name.focus();
});

/** A panel form: PATCH what `body` returns; a 400's detail is shown beside the form. */
function panelForm(id, what, body, fill) {
  onSubmit(id, "key-panel", async () => {
    const out = $(`${id}-error`);
    out.textContent = "";
    try {
      const k = await api("admin", `/keys/${encodeURIComponent(panelKey.id)}`, { method: "PATCH", body: body() });
      await loadKeys();
      fill(k);
      note(`Saved the ${what} of “${k.name}”.`);
      await loadUsage();
    } catch (e) {
      if (e.status !== 400) throw e;
      out.textContent = e.message;
      const [, i, f] = /limits\[(\d+)\]\.(\w+)/.exec(e.message) ?? [];
      $("limit-rows").children[i]?.elements[f]?.focus();
    }
  });
}
panelForm("limits-form", "limits", () => {
  const limits = [...$("limit-rows").children].map(({ extra, elements: f }) => ({
    ...extra, name: f.name.value.trim(), limit: Number(f.limit.value), period_seconds: Number(f.period_seconds.value), by: f.by.value, window: f.window.value,
  }));
  return { limits: limits.length ? limits : null };
}, fillLimits);
panelForm("credits-form", "credits", () => {
  const [remaining, amount, every] = ["credits-remaining", "refill-amount", "refill-every"].map((id) => $(id).value);
  if (remaining === "") return { credits: null };
  return { credits: { remaining: Number(remaining), ...(amount || every ? { refill: { amount: Number(amount), every_seconds: Number(every) } } : {}) } };
}, fillCredits);

function syncExpiry() {
  const pat = $("create-kind").value === "pat";
  const never = $("create-expiry").options[0];
  never.disabled = pat;
  never.textContent = pat ? "Never (not for PATs)" : "Never";
  if (pat && !$("create-expiry").value) $("create-expiry").value = "2592000";
}
on("create-kind", "change", syncExpiry);

onSubmit("create-form", null, async () => {
  const body = {
    kind: $("create-kind").value,
    subject: $("create-subject").value.trim(),
    name: $("create-name").value.trim(),
    scopes: $("create-scopes").value.split(/[\s,]+/).filter(Boolean),
  };
  if ($("create-expiry").value) body.expires_in = Number($("create-expiry").value);
  const issued = await api("admin", "/keys", { method: "POST", body });
  $("create-name").value = "";
  $("list-form").reset();
  $("list-subject").value = issued.subject;
  reveal(issued, $("create-name"));
  note(`Created “${issued.name}” for ${issued.subject}.`);
  await loadKeys(`subject=${encodeURIComponent(issued.subject)}`, 1);
});

// ---------- my tokens ----------

/** The JWT's payload, decoded only to suggest scopes and say who you are (the edge verifies). */
function claimsOf(jwt) {
  const part = jwt?.split(".");
  return part?.length === 3 ? b64uJson(part[1]) : null;
}
/** A base64url JSON object, or null. */
function b64uJson(b64) {
  try {
    const json = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0))));
    return json && typeof json === "object" ? json : null;
  } catch { return null; }
}

function scopesOf(claims) {
  const raw = claims?.scope ?? claims?.scp ?? [];
  return [...new Set((typeof raw === "string" ? raw.split(/\s+/) : [].concat(raw)).filter((s) => typeof s === "string" && s))];
}

async function loadPats() {
  const keys = (await api("user", "/pats"))?.keys ?? [];
  $("pat-rows").replaceChildren(...keys.map((k) => keyRow(k, false, { Revoke: revokePat })));
  $("pat-empty").hidden = keys.length > 0;
}
const revokePat = (k, btn) => revoke("user", "/pats", k, btn, loadPats, "pat-list");

function mineShow() {
  const claims = creds.user && claimsOf(creds.user);
  $("mine-login").hidden = Boolean(claims);
  $("mine-main").hidden = !claims;
  if (!claims) { $("pat-rows").replaceChildren(); return; }
  const who = el("span", {}, "Signed in as ", el("strong", {}, String(claims.sub ?? "unknown")));
  if (claims.iss) who.append(` (${claims.iss})`);
  if (typeof claims.exp === "number") who.append(`, token ${claims.exp * 1000 < Date.now() ? "expired" : "expires"} ${ago(claims.exp)}`);
  $("mine-who").replaceChildren(who, ".");
  const scopes = scopesOf(claims);
  $("pat-scopes").replaceChildren(...scopes.map((s) => el("label", {}, el("input", { type: "checkbox", name: "pat-scope", value: s }), el("code", {}, s))));
  $("pat-noscopes").hidden = scopes.length > 0;
}

onSubmit("mine-login", null, async () => {
  const jwt = $("mine-jwt").value.trim().replace(/^Bearer\s+/i, "");
  if (!claimsOf(jwt)) throw new ApiError(0, { detail: "That does not look like a JWT: it should be three parts separated by dots." });
  remember("user", jwt);
  await loadPats();
  $("mine-jwt").value = "";
  mineShow();
  note("Signed in.");
  $("pat-name").focus();
});
on("mine-logout", "click", () => { signOut("user"); note("Signed out: your token was forgotten."); });

onSubmit("pat-form", null, async () => {
  const body = {
    name: $("pat-name").value.trim(),
    scopes: [...document.querySelectorAll("[name=pat-scope]:checked")].map((i) => i.value),
    expires_in: Number($("pat-expiry").value),
  };
  const issued = await api("user", "/pats", { method: "POST", body });
  $("pat-name").value = "";
  for (const box of document.querySelectorAll("[name=pat-scope]")) box.checked = false;
  reveal(issued, $("pat-name"));
  note(`Created “${issued.name}”.`);
  await loadPats();
});

// ---------- try it ----------

const fillKv = (dl, entries) => dl.replaceChildren(...entries.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]));

// The URL for a "Try it" path, or null unless it can only reach this origin (the URL parser reads
// "\\" as "/" and drops tabs and newlines: "/\t/host" and "/\\host" mean "//host").
function sameOrigin(path) {
  if (!/^\/(?![/\\]|%2f|%5c)/i.test(path) || /[\\\s\0-\x1f\x7f]/.test(path)) return null;
  let url;
  try { url = new URL(path, location.origin); } catch { return null; }
  url.hash = "";
  return url.origin === location.origin ? url : null;
}

// X-Auth-Assertion is a live credential: never show its signature.
const REDACTED = "…<redacted signature>";
function assertionView(jwt) {
  const [h, p] = String(jwt).split(".");
  const header = b64uJson(h), payload = b64uJson(p);
  return header && payload ? `${JSON.stringify(header)} ${JSON.stringify(payload)} ${REDACTED}` : "<redacted>";
}

on("try-as", "change", () => { $("try-credential").disabled = $("try-as").value === "none"; });
on("try-use-jwt", "click", () => {
  $("try-as").value = "jwt";
  $("try-credential").disabled = false;
  $("try-credential").value = creds.user ?? "";
});

onSubmit("try-form", "try-result", async () => {
  const path = $("try-path").value.trim();
  const as = $("try-as").value;
  const credential = $("try-credential").value.trim();
  const headers = { accept: "application/json" };
  const bad = (detail, id) => { $(id).focus(); return new ApiError(0, { detail }); };
  const url = sameOrigin(path);
  if (!url) throw bad("The path must start with a single / and stay on this origin.", "try-path");
  if (as !== "none") {
    const jwtLike = credential.split(".").length === 3;
    if (!credential) throw bad("Paste a credential, or choose “None”.", "try-credential");
    if (as === "jwt" && !jwtLike) throw bad("That does not look like a JWT: it should be three parts separated by dots.", "try-credential");
    if (as !== "jwt" && jwtLike) throw bad("That looks like a JWT: choose “JWT as Bearer”.", "try-as");
    if (as === "x-api-key") headers["x-api-key"] = credential;
    else headers.authorization = `Bearer ${credential}`;
  }
  const init = { method: $("try-method").value, headers, cache: "no-store", credentials: "omit", redirect: "manual" };
  note();
  const started = performance.now();
  let res;
  try {
    res = await fetch(url.href, init);
  } catch {
    throw new ApiError(0, { detail: "The request did not complete (network error)." });
  }
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  const ok = res.status >= 200 && res.status < 300;
  $("try-status").textContent = res.status ? `${res.status} ${res.statusText}`.trim() : "redirect";
  $("try-status").className = `badge ${ok ? "badge-active" : res.status >= 400 ? "badge-revoked" : ""}`;
  $("try-time").textContent = `${Math.round(performance.now() - started)} ms`;
  const problem = /problem\+json/.test(res.headers.get("content-type")) && json && typeof json === "object" ? json : null;
  $("try-problem-wrap").hidden = !problem;
  if (problem) {
    const fields = ["type", "title", "status", "detail", "error", "request_id"].filter((k) => problem[k] !== undefined).map((k) => [k, problem[k]]);
    const challenge = res.headers.get("www-authenticate");
    fillKv($("try-problem"), challenge ? [...fields, ["WWW-Authenticate", challenge]] : fields);
  }
  const seen = json?.headers && typeof json.headers === "object" ? json.headers : {};
  let raw = text;
  const identity = Object.entries(seen).filter(([k]) => k.toLowerCase().startsWith("x-auth-")).sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => {
      if (k.toLowerCase() !== "x-auth-assertion") return [k, k === "x-auth-expires-at" && /^\d+$/.test(v) ? `${v} (${date(Number(v))})` : v];
      if (v) raw = raw.split(v).join(REDACTED);
      return [k, assertionView(v)];
    });
  $("try-raw").textContent = raw || "(empty)";
  $("try-identity-wrap").hidden = !identity.length;
  fillKv($("try-identity"), identity);
  $("try-summary").textContent = ok
    ? `The edge let it through${identity.length ? "; the origin received these identity headers" : ""}.`
    : problem ? explain(res.status, problem) : "The origin answered with an error.";
  $("try-result").hidden = false;
  $("try-heading").focus();
});

// ---------- start ----------

for (const field of document.querySelectorAll("input, textarea")) {
  field.spellcheck = false;
  field.autocomplete = "off";
}

syncExpiry();
adminShow();
mineShow();
if (creds.admin) busy(null, null, loadAudit);
if (creds.user) loadPats().catch(() => { /* a refused token signs out */ });
