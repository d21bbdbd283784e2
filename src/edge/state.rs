//! The state tier in the runtime (wasm32 only), both sides of the `AUTH_STATE` binding:
//!
//! * inside the Durable Object: [`authority_call`], called by the storage shell (`AuthState` in
//!   entry.mjs) inside `transactionSync`, runs [`crate::state::authority::run`] against the
//!   object's SQLite tables through [`SqlShell`] (synchronous calls, so the whole call completes
//!   in one poll and one transaction);
//! * in the Worker: the stub calls (admin calls, the feed through the location's Cache API, a
//!   recently created key's record) and the view refresh.
//!
//! No policy lives here: what to write, what to audit, what the feed says and when the view must
//! be refreshed are the core's (`crate::state`). Never logs a record, a digest or a token.

use crate::reason::Reason;
use std::future::Future;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll, Waker};

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use worker::Env;

use crate::authn::Gateway;
use crate::ports::{Authority, AuthorityRecord, KeyStore, ListPage, Listed, StoreError};
use crate::problem::Problem;
use crate::state::authority::AuthorityCall;
use crate::state::feed::{bucket_url, FeedDocument, CACHE_SECONDS, MAX_ENTRIES};
use crate::state::ViewPlan;
use crate::state::{AuditEvent, AuditFilter, AuditPage, FeedEntry, StateLog};

use super::crypto::CryptoKeyHandle;
use super::endpoints::admin_reply;
use super::env::{isolate, now_ms};
use super::response::problem_response;

#[wasm_bindgen]
extern "C" {
    /// The storage shell's table access (entry.mjs `SqlShell`): synchronous SQLite calls.
    pub type SqlShell;
    #[wasm_bindgen(method, catch)]
    fn get(this: &SqlShell, key: &str) -> Result<Option<String>, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn put(this: &SqlShell, key: &str, value: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = putListed)]
    fn put_listed(this: &SqlShell, key: &str, value: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn del(this: &SqlShell, key: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn list(
        this: &SqlShell,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<String, JsValue>;
    #[wasm_bindgen(method, catch, js_name = appendAudit)]
    fn append_audit(
        this: &SqlShell,
        event: &str,
        issuer: Option<String>,
        subject: Option<String>,
        kind: Option<String>,
    ) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = appendFeed)]
    fn append_feed(
        this: &SqlShell,
        entry: &str,
        until: f64,
        stands_for_kv_write: bool,
    ) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = auditPage)]
    fn audit_page(
        this: &SqlShell,
        issuer: Option<String>,
        subject: Option<String>,
        before: Option<f64>,
        limit: u32,
    ) -> Result<String, JsValue>;
}

#[wasm_bindgen(module = "/src/edge/runtime.js")]
extern "C" {
    #[wasm_bindgen(js_name = authorityStub)]
    fn authority_stub_js(env: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = authorityCall)]
    fn authority_call_js(stub: &JsValue, body: &str, ms: u32) -> js_sys::Promise;
    #[wasm_bindgen(js_name = authorityRecord)]
    fn authority_record_js(stub: &JsValue, key: &str, ms: u32) -> js_sys::Promise;
    #[wasm_bindgen(js_name = authorityAdopt)]
    fn authority_adopt_js(stub: &JsValue, cursor: Option<String>, ms: u32) -> js_sys::Promise;
    #[wasm_bindgen(js_name = readFeed)]
    fn read_feed_js(
        stub: &JsValue,
        bucket: &str,
        use_cache: bool,
        ms: u32,
        max_age: u32,
    ) -> js_sys::Promise;
}

/// How long a Worker waits for the authority (admin calls, a record, a background refresh).
pub const AUTHORITY_TIMEOUT_MS: u32 = 3_000;

/// The admin API's store, whichever it is: KV (no state tier) or the object's tables. One type,
/// so the admin handlers (large async state machines) are compiled once, not once per store:
/// two instantiations cost 77 KiB of gzipped wasm (measured: 331 → 408 KiB).
pub enum AdminStore<'a> {
    Kv(&'a super::kv::Store),
    Tables(Tables<'a>),
}

impl KeyStore for AdminStore<'_> {
    async fn get_cached(&self, key: &str) -> Result<Option<String>, StoreError> {
        match self {
            AdminStore::Kv(s) => s.get_cached(key).await,
            AdminStore::Tables(t) => t.get_cached(key).await,
        }
    }
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        match self {
            AdminStore::Kv(s) => s.get(key).await,
            AdminStore::Tables(t) => t.get(key).await,
        }
    }
    async fn put(&self, key: &str, value: &str, expires: Option<u64>) -> Result<(), StoreError> {
        match self {
            AdminStore::Kv(s) => s.put(key, value, expires).await,
            AdminStore::Tables(t) => t.put(key, value, expires).await,
        }
    }
    async fn put_listed(&self, key: &str, value: &str) -> Result<(), StoreError> {
        match self {
            AdminStore::Kv(s) => s.put_listed(key, value).await,
            AdminStore::Tables(t) => t.put_listed(key, value).await,
        }
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self {
            AdminStore::Kv(s) => s.delete(key).await,
            AdminStore::Tables(t) => t.delete(key).await,
        }
    }
    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<ListPage, StoreError> {
        match self {
            AdminStore::Kv(s) => s.list(prefix, cursor, limit).await,
            AdminStore::Tables(t) => t.list(prefix, cursor, limit).await,
        }
    }
}

pub struct Tables<'a>(&'a SqlShell);

impl KeyStore for Tables<'_> {
    async fn get_cached(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.0.get(key).map_err(|_| StoreError::Unavailable)
    }
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.0.get(key).map_err(|_| StoreError::Unavailable)
    }
    async fn put(&self, key: &str, value: &str, _expires: Option<u64>) -> Result<(), StoreError> {
        self.0.put(key, value).map_err(|_| StoreError::Unavailable)
    }
    async fn put_listed(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.0
            .put_listed(key, value)
            .map_err(|_| StoreError::Unavailable)
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0.del(key).map_err(|_| StoreError::Unavailable)
    }
    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<ListPage, StoreError> {
        /// `listed[i]` is what `put_listed` wrote under `keys[i]` (a shape that reuses the
        /// deserializers the build has already: an array of records cost 1 KB more wasm).
        #[derive(serde::Deserialize)]
        struct Page {
            keys: Vec<String>,
            listed: Vec<Option<String>>,
            cursor: Option<String>,
        }
        let text = self
            .0
            .list(prefix, cursor.map(str::to_string), limit)
            .map_err(|_| StoreError::Unavailable)?;
        let page: Page = serde_json::from_str(&text).map_err(|_| StoreError::Unavailable)?;
        if page.listed.len() != page.keys.len() {
            return Err(StoreError::Unavailable);
        }
        Ok(ListPage {
            keys: page
                .keys
                .into_iter()
                .zip(page.listed)
                .map(|(name, listed)| Listed { name, listed })
                .collect(),
            cursor: page.cursor,
        })
    }
}

struct Log<'a>(&'a SqlShell);

impl StateLog for Log<'_> {
    fn append_audit(&mut self, event: &AuditEvent) -> Result<(), StoreError> {
        let text = serde_json::to_string(event).map_err(|_| StoreError::Unavailable)?;
        let kind = event.kind.map(|k| k.as_str().to_string());
        self.0
            .append_audit(&text, event.issuer.clone(), event.subject.clone(), kind)
            .map_err(|_| StoreError::Unavailable)
    }
    fn append_feed(&mut self, entry: &FeedEntry, until: u64) -> Result<(), StoreError> {
        let text = serde_json::to_string(entry).map_err(|_| StoreError::Unavailable)?;
        #[allow(clippy::cast_precision_loss)]
        let until = until as f64;
        self.0
            .append_feed(&text, until, entry.stands_for_kv_write())
            .map_err(|_| StoreError::Unavailable)
    }
    fn audit_page(
        &self,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: u32,
    ) -> Result<AuditPage, StoreError> {
        #[derive(serde::Deserialize)]
        struct Page {
            events: Vec<AuditEvent>,
            cursor: Option<u64>,
        }
        let (issuer, subject) = match filter {
            AuditFilter::All => (None, None),
            AuditFilter::OwnPats { issuer, subject } => {
                (Some(issuer.clone()), Some(subject.clone()))
            }
        };
        #[allow(clippy::cast_precision_loss)]
        let before = before.map(|b| b as f64);
        let text = self
            .0
            .audit_page(issuer, subject, before, limit)
            .map_err(|_| StoreError::Unavailable)?;
        let page: Page = serde_json::from_str(&text).map_err(|_| StoreError::Unavailable)?;
        Ok(AuditPage {
            events: page.events,
            cursor: page.cursor,
        })
    }
}

fn answer(commit: bool, response: &web_sys::Response) -> JsValue {
    let out = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&out, &"commit".into(), &JsValue::from_bool(commit));
    let _ = js_sys::Reflect::set(&out, &"response".into(), response.as_ref());
    out.into()
}

/// Inside the object: run one call (JSON [`AuthorityCall`]) at `now_ms` against the tables.
/// Returns `{commit, response}`; the shell rolls the transaction back unless `commit`.
#[wasm_bindgen(js_name = authorityCall)]
pub fn authority_call(shell: &SqlShell, env: Env, body: &str, now_ms: f64) -> JsValue {
    let gateway = match isolate(&env) {
        Ok(g) => g,
        Err(_) => {
            let p = Problem::authority_config_invalid();
            return answer(false, &problem_response(&p, "api", "unknown"));
        }
    };
    let realm = gateway.config.realm.clone();
    let call: AuthorityCall = match serde_json::from_str(body) {
        Ok(c) => c,
        Err(_) => {
            let p = Problem::bad_authority_call();
            return answer(false, &problem_response(&p, &realm, "unknown"));
        }
    };
    let request_id = match &call {
        AuthorityCall::Admin { request_id, .. } | AuthorityCall::AuthFailed { request_id, .. } => {
            request_id.clone()
        }
    };
    // A CSPRNG that fails refuses in the core (`no_entropy`) before anything is written.
    let mut fill = super::env::csprng_fill;
    let tables = AdminStore::Tables(Tables(shell));
    let mut log = Log(shell);
    let now = super::env::unix_time(now_ms);
    let running = crate::state::authority::run(
        call,
        &gateway.config,
        &gateway.keys,
        &tables,
        &mut log,
        now,
        &mut fill,
    );
    let mut running = Box::pin(running);
    let mut poll_context = TaskContext::from_waker(Waker::noop());
    // Every table call is synchronous, so the call completes in its first poll; anything else
    // would leave the transaction half-done, and is refused.
    match running.as_mut().poll(&mut poll_context) {
        Poll::Ready(applied) => answer(
            applied.commit,
            &admin_reply(applied.reply, &realm, &request_id),
        ),
        Poll::Pending => answer(
            false,
            &problem_response(&Problem::state_unavailable(), &realm, &request_id),
        ),
    }
}

/// Inside the object: whether a stored name is a key record (the KV schema is
/// `keys::repository`'s; the shell never spells a prefix).
#[wasm_bindgen(js_name = kvIsRecord)]
pub fn kv_is_record(name: &str) -> bool {
    crate::keys::repository::is_record_key(name)
}

/// Inside the object: whether a KV name is one the authority adopts from KV.
#[wasm_bindgen(js_name = kvIsAdopted)]
pub fn kv_is_adopted(name: &str) -> bool {
    crate::keys::repository::is_adopted(name)
}

/// Inside the object: whether a stored feed entry stands for a KV write KV may not have had
/// (`FeedEntry::stands_for_kv_write`), for rows stored before the `pending` column.
#[wasm_bindgen(js_name = feedEntryStandsForKvWrite)]
pub fn feed_entry_stands_for_kv_write(text: &str) -> bool {
    crate::state::feed::FeedEntry::text_stands_for_kv_write(text)
}

/// Inside the object: the feed's entry cap (the shell reports `overflow` past it).
#[wasm_bindgen(js_name = feedMaxEntries)]
pub fn feed_max_entries() -> u32 {
    u32::try_from(MAX_ENTRIES).unwrap_or(u32::MAX)
}

/// Inside the object: how long a feed entry is kept after the change it publishes (and, after
/// failed KV writes, after KV has taken it: entry.mjs `flush`).
#[wasm_bindgen(js_name = feedWindowSeconds)]
pub fn feed_window_seconds() -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let seconds = crate::state::feed::WINDOW_SECONDS as f64;
    seconds
}

/// Inside the object: how long audit rows are kept, in seconds (`audit.retention_days`).
#[wasm_bindgen(js_name = auditRetentionSeconds)]
pub fn audit_retention_seconds(env: Env) -> f64 {
    let days = isolate(&env).map_or(90, |g| g.config.audit_retention_days);
    #[allow(clippy::cast_precision_loss)]
    let seconds = (days * 86_400) as f64;
    seconds
}

/// The Worker's handle on the authority; `None` when `AUTH_STATE` is not bound.
#[derive(Clone)]
pub struct AuthorityStub {
    stub: JsValue,
    /// The environment, for the counter objects of the same namespace (src/edge/limits.rs).
    pub(super) env: JsValue,
}

impl AuthorityStub {
    /// The stub of `env`'s `AUTH_STATE`, or `None` when it is not bound. A stub is an I/O object
    /// of the request that made it (workerd refuses it in another), so each request makes its
    /// own; the object's id is kept per isolate (runtime.js).
    pub fn of(env: &Env) -> Option<Self> {
        let stub = authority_stub_js(env.as_ref());
        (!stub.is_undefined() && !stub.is_null()).then(|| AuthorityStub {
            stub,
            env: AsRef::<JsValue>::as_ref(env).clone(),
        })
    }

    /// One call; the object's response, or `None` when it did not answer (nothing changed).
    pub async fn call(&self, call: &AuthorityCall) -> Option<web_sys::Response> {
        let body = serde_json::to_string(call).ok()?;
        let value = JsFuture::from(authority_call_js(&self.stub, &body, AUTHORITY_TIMEOUT_MS))
            .await
            .ok()?;
        value.dyn_into::<web_sys::Response>().ok()
    }
}

impl AuthorityStub {
    /// One step of copying KV's records into the authority (`POST {admin_path}/keys/adopt`).
    pub async fn adopt(&self, cursor: Option<String>) -> Option<web_sys::Response> {
        let value = JsFuture::from(authority_adopt_js(&self.stub, cursor, ADOPT_TIMEOUT_MS))
            .await
            .ok()?;
        value.dyn_into::<web_sys::Response>().ok()
    }
}

/// An adoption step works for 20 s in the object; the Worker waits a little longer.
const ADOPT_TIMEOUT_MS: u32 = 25_000;

impl Authority for AuthorityStub {
    async fn record(&self, kv_key: &str) -> Result<Option<AuthorityRecord>, StoreError> {
        let value = JsFuture::from(authority_record_js(
            &self.stub,
            kv_key,
            AUTHORITY_TIMEOUT_MS,
        ))
        .await
        .map_err(|_| StoreError::Unavailable)?;
        if value.is_null() {
            return Ok(None);
        }
        // `[text, read_at]` (runtime.js `authorityRecord`); anything else is no answer.
        let pair = js_sys::Array::from(&value);
        let text = pair.get(0).as_string().ok_or(StoreError::Unavailable)?;
        let read_at = pair
            .get(1)
            .as_f64()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| crate::time::UnixTime(s as u64));
        Ok(Some(AuthorityRecord { text, read_at }))
    }

    async fn lease(
        &self,
        calls: &crate::limits::lease::Calls,
    ) -> Vec<Result<crate::limits::LeaseReply, StoreError>> {
        super::limits::lease(&self.env, calls).await
    }

    fn now_ms(&self) -> u64 {
        now_ms_u64()
    }

    async fn pause(&self, ms: u32) {
        let _ = JsFuture::from(super::limits::pause_js(ms)).await;
    }
}

/// How long a request waits for a view it needs (older than the bound) before it is decided on
/// the stale view (`on_stale`): a slow authority must not hold every request for the full
/// authority timeout.
pub const AWAITED_REFRESH_MS: u32 = 1_000;

/// Refresh the isolate's view: from the location's cache (`use_cache`), else from the object,
/// waiting at most `timeout_ms`. Concurrent refreshes of one isolate share one read
/// (`readFeed` in runtime.js), so a burst after an idle spell costs one feed read, not one each.
pub async fn refresh_view(
    gateway: Rc<Gateway<CryptoKeyHandle>>,
    stub: AuthorityStub,
    use_cache: bool,
    timeout_ms: u32,
) {
    let started = now_ms_u64();
    gateway.view.refresh_started(started);
    let bucket = bucket_url(started);
    let fetched = JsFuture::from(read_feed_js(
        &stub.stub,
        &bucket,
        use_cache,
        timeout_ms,
        CACHE_SECONDS as u32,
    ))
    .await;
    let Ok(pair) = fetched else {
        gateway
            .view
            .refresh_failed(Reason::FeedUnreachable, now_ms_u64());
        return;
    };
    let text = js_sys::Reflect::get(&pair, &0.into())
        .ok()
        .and_then(|v| v.as_string());
    let fetched_at = js_sys::Reflect::get(&pair, &1.into())
        .ok()
        .and_then(|v| v.as_f64());
    let (Some(text), Some(fetched_at)) = (text, fetched_at) else {
        gateway
            .view
            .refresh_failed(Reason::FeedInvalid, now_ms_u64());
        return;
    };
    match FeedDocument::parse(text.as_bytes()) {
        Ok(doc) => {
            if gateway.view.install(doc, super::env::whole_ms(fetched_at)) {
                gateway.keys.clear();
            }
        }
        Err(reason) => gateway.view.refresh_failed(reason, now_ms_u64()),
    }
}

/// Bring the isolate's view up to date as the core's plan says ([`ViewPlan`]): nothing when it is
/// current, a background refresh after 1 s, an awaited one (at most [`AWAITED_REFRESH_MS`]) past
/// the bound. Returns the time the request's verdicts are judged at (after any wait).
pub async fn current_view(
    gateway: &Rc<Gateway<CryptoKeyHandle>>,
    ctx: &worker::Context,
    stub: &AuthorityStub,
) -> u64 {
    let now = now_ms_u64();
    match gateway.view.plan(now) {
        ViewPlan::Current => now,
        ViewPlan::RefreshInBackground => {
            gateway.view.refresh_started(now);
            ctx.wait_until(refresh_view(
                Rc::clone(gateway),
                stub.clone(),
                true,
                AUTHORITY_TIMEOUT_MS,
            ));
            now
        }
        ViewPlan::AwaitRefresh => {
            refresh_view(Rc::clone(gateway), stub.clone(), true, AWAITED_REFRESH_MS).await;
            now_ms_u64()
        }
    }
}

pub fn now_ms_u64() -> u64 {
    super::env::whole_ms(now_ms())
}
