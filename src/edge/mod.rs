//! The runtime adapter (wasm32 only): the fetch entry, bindings, and carrying out the core's
//! decision. No policy lives here: every "may this request pass" question is answered by
//! [`crate::authn::Gateway::decide`].

mod crypto;
mod documents;
#[cfg(feature = "fault-injection")]
mod fault;
mod kv;
mod limits;
mod respond;
mod state;

use std::cell::RefCell;
use std::rc::Rc;

use std::future::Future;
use std::task::{Context as TaskContext, Poll, Waker};

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{Context, Env};

use crate::admin::AdminRequest;
use crate::authn::{Decision, Followup, Gateway, OwnEndpoint, Ports, RequestParts};
use crate::config::{Config, ConfigError};
use crate::ports::NoEntropy;
use crate::problem::Problem;
use crate::request_url::RequestUrl;
use crate::state::authority::AuthorityCall;
use crate::state::ViewPlan;
use crate::time::UnixTime;

use self::crypto::{CryptoKeyHandle, WebCryptoVerifier};
use self::documents::FetchDocuments;
use self::kv::Store;
use self::respond::{log_decision, problem_response, LogLine};

/// Per-isolate state: built once from the environment on the first request.
type Isolate = Result<Rc<Gateway<CryptoKeyHandle>>, ConfigError>;

thread_local! {
    static ISOLATE: RefCell<Option<Isolate>> = const { RefCell::new(None) };
}

/// The version reported by `/_auth/health`.
pub(crate) const VERSION: &str = crate::authn::VERSION;

/// Read a string binding (a var or a secret).
pub(crate) fn string_binding(env: &Env, name: &str) -> Option<String> {
    let env_value: &JsValue = env.as_ref();
    js_sys::Reflect::get(env_value, &JsValue::from_str(name))
        .ok()
        .and_then(|v| v.as_string())
}

/// `AUTH_CONFIG` as JSON text, whether it was bound as an object or as a string.
fn config_text(env: &Env) -> Result<String, ConfigError> {
    let missing = || ConfigError {
        field: "AUTH_CONFIG".into(),
        reason: "the AUTH_CONFIG variable is not set".into(),
    };
    let env_value: &JsValue = env.as_ref();
    let value = js_sys::Reflect::get(env_value, &JsValue::from_str("AUTH_CONFIG"))
        .map_err(|_| missing())?;
    if value.is_undefined() || value.is_null() {
        return Err(missing());
    }
    if let Some(text) = value.as_string() {
        return Ok(text);
    }
    js_sys::JSON::stringify(&value)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(missing)
}

fn build_isolate(env: &Env) -> Isolate {
    let text = config_text(env)?;
    let config = Config::from_json(&text, &|name| string_binding(env, name))?;
    Ok(Rc::new(Gateway::new(config)))
}

fn isolate(env: &Env) -> Isolate {
    ISOLATE.with(|cell| {
        if let Ok(slot) = cell.try_borrow() {
            if let Some(existing) = slot.as_ref() {
                return existing.clone();
            }
        }
        let built = build_isolate(env);
        match &built {
            Err(e) => respond::log_config_error(e),
            Ok(gateway) => respond::log_config_warnings(&gateway.config),
        }
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = Some(built.clone());
        }
        built
    })
}

pub(crate) fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Whole milliseconds of a JS time value (`Date.now()` is finite and non-negative; anything
/// else reads as 0).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub(crate) fn whole_ms(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        ms as u64
    } else {
        0
    }
}

/// Unix seconds of a JS time value.
pub(crate) fn unix_time(ms: f64) -> UnixTime {
    UnixTime(whole_ms(ms) / 1000)
}

fn now() -> UnixTime {
    unix_time(now_ms())
}

/// The randomness port ([`crate::ports::Fill`]): WebCrypto's `getRandomValues` through
/// `getrandom`; [`NoEntropy`] when it fails (the core then refuses to mint).
pub(crate) fn csprng_fill(buf: &mut [u8]) -> Result<(), NoEntropy> {
    getrandom::getrandom(buf).map_err(|_| NoEntropy)
}

/// A request id: Cloudflare's `cf-ray` when present; else a per-isolate random prefix and a
/// counter (16 hex characters), which is unique without a CSPRNG call per request.
fn request_id(headers: &[(String, String)]) -> String {
    if let Some((_, ray)) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("cf-ray"))
    {
        let clean: String = ray
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(64)
            .collect();
        if !clean.is_empty() {
            return clean;
        }
    }
    REQUEST_IDS.with(|ids| {
        let (prefix, count) = ids.get();
        ids.set((prefix, count.wrapping_add(1)));
        format!("{prefix:08x}{count:08x}")
    })
}

thread_local! {
    /// (random prefix, next counter) for request ids.
    static REQUEST_IDS: std::cell::Cell<(u32, u32)> = std::cell::Cell::new({
        let mut seed = [0u8; 4];
        // Without a CSPRNG the ids are still unique within the isolate.
        let _ = getrandom::getrandom(&mut seed);
        (u32::from_be_bytes(seed), 0)
    });
}

/// The request's method, URL and headers, in one boundary crossing (`runtime.js`).
struct RequestFacts {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
}

impl RequestFacts {
    fn read(req: &web_sys::Request) -> Option<Self> {
        let list: Vec<String> = serde_json::from_str(&respond::request_facts(req)).ok()?;
        let mut items = list.into_iter();
        let method = items.next()?;
        let url = items.next()?;
        let mut headers = Vec::with_capacity(items.len() / 2);
        while let (Some(name), Some(value)) = (items.next(), items.next()) {
            headers.push((name, value));
        }
        Some(RequestFacts {
            method,
            url,
            headers,
        })
    }
}

/// What handling a request comes to: an answer from the edge itself, or a request for the origin.
enum Step {
    Answer(web_sys::Response),
    Forward {
        incoming: web_sys::Request,
        target: String,
        edits: String,
        request_id: String,
        realm: String,
        assertion: Option<respond::PendingAssertion>,
        /// A limited request's `RateLimit` fields and refund (`limits::after`), or undefined.
        after: JsValue,
    },
}

/// The fetch entry (what `#[event(fetch)]` would generate, minus its overheads).
///
/// Most requests are decided without waiting on anything: public routes, API keys and PATs in the
/// isolate's cache, tokens already verified, HS256. Those are decided synchronously here, and the
/// origin's `fetch` promise is handed straight back to the runtime: no task is queued, and the
/// origin's response passes through untouched, as in a bare pass-through Worker. Requests that
/// must wait (a KV read, a WebCrypto verification, a JWKS fetch) continue as a task.
#[wasm_bindgen(js_name = fetch)]
pub fn fetch_entry(req: web_sys::Request, env: Env, ctx: worker::worker_sys::Context) -> JsValue {
    let raw_ctx: JsValue = ctx.clone().into();
    let mut handling = Box::pin(handle(req, env, Context::new(ctx), raw_ctx));
    let mut poll_context = TaskContext::from_waker(Waker::noop());
    match handling.as_mut().poll(&mut poll_context) {
        Poll::Ready(step) => carry_out(step),
        // The leaf futures (JS promises) store the waker of each poll, so the task's real waker
        // replaces the no-op one on its first poll.
        Poll::Pending => {
            wasm_bindgen_futures::future_to_promise(async move { Ok(carry_out(handling.await)) })
                .into()
        }
    }
}

/// The handler's result: the edge's own `Response`, or the origin's pending one, where a failed
/// fetch becomes a 502 problem.
fn carry_out(step: Step) -> JsValue {
    match step {
        Step::Answer(response) => response.into(),
        Step::Forward {
            incoming,
            target,
            edits,
            request_id,
            realm,
            assertion,
            after,
        } => respond::forward(
            &target,
            &incoming,
            &edits,
            &request_id,
            &realm,
            assertion.as_ref(),
            &after,
        ),
    }
}

async fn handle(req: web_sys::Request, env: Env, ctx: Context, raw_ctx: JsValue) -> Step {
    let started = now_ms();
    let Some(RequestFacts {
        method,
        url: url_text,
        headers,
    }) = RequestFacts::read(&req)
    else {
        let p = Problem::new(
            400,
            "Invalid request",
            "bad_request",
            "The request cannot be read.",
        );
        return Step::Answer(problem_response(&p, "api", "unknown"));
    };
    #[cfg(feature = "fault-injection")]
    fault::inject(&headers).await;
    let rid = request_id(&headers);
    let Ok(url) = RequestUrl::parse(&url_text) else {
        let p = Problem::new(
            400,
            "Invalid request",
            "bad_url",
            "The request URL cannot be parsed.",
        );
        return Step::Answer(problem_response(&p, "api", &rid));
    };
    let mut line = LogLine::new(&rid, &method, url.path, started);

    let gateway = match isolate(&env) {
        Ok(g) => g,
        Err(_) => {
            let response = respond::config_invalid(url.path, &rid);
            line.outcome = "rejected";
            line.status = Some(500);
            line.reason = "config_invalid";
            log_decision(&line);
            return Step::Answer(response);
        }
    };
    // The assertion's `jti` is the only per-request use of the CSPRNG.
    let mut entropy = [0u8; 16];
    if gateway.config.assertion_signer.is_some() && getrandom::getrandom(&mut entropy).is_err() {
        let p = Problem::no_entropy();
        return Step::Answer(problem_response(&p, &gateway.config.realm, &rid));
    }

    let store = Store::new(&env, gateway.config.keys.kv_cache_ttl_seconds());
    let documents = FetchDocuments::new(fetch_timeout(&gateway));
    let verifier = WebCryptoVerifier;
    // The state tier: the view of recent revocations is refreshed as the core's plan says (in
    // the background after 1 s; first, when older than the bound).
    let authority = state::AuthorityStub::of(&env);
    let mut view_now_ms = state::now_ms_u64();
    if let Some(stub) = &authority {
        match gateway.view.plan(view_now_ms) {
            ViewPlan::Current => {}
            ViewPlan::RefreshInBackground => {
                gateway.view.refresh_started(view_now_ms);
                ctx.wait_until(state::refresh_view(
                    Rc::clone(&gateway),
                    stub.clone(),
                    true,
                    state::AUTHORITY_TIMEOUT_MS,
                ));
            }
            ViewPlan::AwaitRefresh => {
                state::refresh_view(
                    Rc::clone(&gateway),
                    stub.clone(),
                    true,
                    state::AWAITED_REFRESH_MS,
                )
                .await;
                view_now_ms = state::now_ms_u64();
            }
        }
    }
    let parts = RequestParts {
        method: &method,
        path: url.path,
        query: url.query,
        headers: &headers,
        origin: url.origin,
        entropy,
        request_id: &rid,
    };
    let ports = Ports {
        store: &store,
        documents: &documents,
        verifier: &verifier,
        authority: authority.as_ref(),
        now_ms: view_now_ms,
    };
    let outcome = gateway.decide(parts, ports, now()).await;
    line.facts(&outcome.log);
    run_followups(&ctx, &gateway, &env, authority.as_ref(), outcome.followups);

    let realm = &gateway.config.realm;
    let step = match outcome.decision {
        Decision::Reject(problem) => {
            line.outcome = "rejected";
            line.status = Some(problem.status);
            Step::Answer(problem_response(&problem, realm, &rid))
        }
        Decision::Forward {
            target,
            plan,
            assertion,
            rate_limit,
            refund,
            ..
        } => {
            let after = limits::after(&gateway, authority.as_ref(), &raw_ctx, rate_limit, refund);
            // The core plans an assertion only when there is a key; without one, refuse rather
            // than forward unsigned.
            let assertion = match (assertion, &gateway.config.assertion_signer) {
                (None, _) => Ok(None),
                (Some(input), Some(signer)) => Ok(Some(respond::PendingAssertion {
                    input,
                    key: respond::assertion_key(signer),
                })),
                (Some(_), None) => Err(respond::assertion_unavailable()),
            };
            match assertion {
                Err(p) => {
                    line.outcome = "rejected";
                    line.reason = p.reason;
                    line.status = Some(p.status);
                    Step::Answer(problem_response(&p, realm, &rid))
                }
                Ok(assertion) => {
                    line.outcome = "forwarded";
                    Step::Forward {
                        incoming: Clone::clone(&req),
                        target,
                        edits: plan.to_json(),
                        request_id: rid.clone(),
                        realm: realm.clone(),
                        assertion,
                        after,
                    }
                }
            }
        }
        Decision::Own(endpoint) => {
            line.outcome = "own";
            let resp =
                own_endpoint(&gateway, &env, &ctx, &req, &url, &headers, endpoint, &rid).await;
            line.status = Some(resp.status());
            Step::Answer(resp)
        }
    };
    line.finish(now_ms());
    log_decision(&line);
    log_key_notes(&gateway);
    step
}

/// Log lines for what this isolate's JWKS fetches noted (once per fetch).
fn log_key_notes(gateway: &Gateway<CryptoKeyHandle>) {
    for note in gateway.jwt.take_unused_algorithms() {
        respond::log_unused_algorithms(&note);
    }
}

#[allow(clippy::too_many_arguments)]
async fn own_endpoint(
    gateway: &Rc<Gateway<CryptoKeyHandle>>,
    env: &Env,
    ctx: &Context,
    req: &web_sys::Request,
    url: &RequestUrl<'_>,
    headers: &[(String, String)],
    endpoint: OwnEndpoint,
    rid: &str,
) -> web_sys::Response {
    let realm = &gateway.config.realm;
    match endpoint {
        OwnEndpoint::Health => {
            let store = Store::new(env, gateway.config.keys.kv_cache_ttl_seconds());
            let kv = store.probe().await;
            let report = gateway.health(kv, now());
            let report = match state::AuthorityStub::of(env) {
                Some(stub) => {
                    // Health shows a current view: refresh it when it is due.
                    if gateway.view.plan(state::now_ms_u64()) != ViewPlan::Current {
                        state::refresh_view(
                            Rc::clone(gateway),
                            stub,
                            true,
                            state::AWAITED_REFRESH_MS,
                        )
                        .await;
                    }
                    report.with_state(&gateway.view, state::now_ms_u64())
                }
                None => report,
            };
            respond::health(&report)
        }
        OwnEndpoint::Jwks => respond::assertion_jwks(&gateway.config),
        OwnEndpoint::OpenApi => respond::openapi(env, url, realm, rid).await,
        OwnEndpoint::Console(path) => respond::console(env, req, url, &path).await,
        OwnEndpoint::Redirect(location) => respond::redirect(&location),
        OwnEndpoint::Api(path) => {
            let body = match respond::read_body(req, crate::admin::MAX_BODY_BYTES).await {
                Ok(b) => b,
                Err(p) => return problem_response(&p, realm, rid),
            };
            let method = req.method();
            let admin_req = AdminRequest {
                method: &method,
                path: &path,
                query: url.query,
                body: &body,
            };
            let documents = FetchDocuments::new(fetch_timeout(gateway));
            // A CSPRNG that fails refuses in the core (`no_entropy`) before anything is written.
            let mut fill = csprng_fill;
            let store = Store::new(env, gateway.config.keys.kv_cache_ttl_seconds());
            let Some(stub) = state::AuthorityStub::of(env) else {
                // Without the state tier the admin API writes KV directly (docs/state.md).
                let store = state::AdminStore::Kv(&store);
                let ports = Ports::without_state(&store, &documents, &WebCryptoVerifier, 0);
                let reply = gateway
                    .admin(admin_req, headers, ports, now(), &mut fill)
                    .await;
                return respond::admin_reply(reply, realm, rid);
            };
            let store = state::AdminStore::Kv(&store);
            let ports = Ports::without_state(&store, &documents, &WebCryptoVerifier, 0);
            let ip = crate::headers::client_ip(headers).map(|v| v.chars().take(64).collect());
            let (caller, actor) = match gateway.admin_caller(&path, headers, &ports, now()).await {
                Ok(found) => found,
                Err(reply) => {
                    if let crate::admin::AdminReply::Problem(p) = &reply {
                        if p.status == 401 {
                            audit_failure(ctx, gateway, &stub, p.reason, rid, ip);
                        }
                    }
                    return respond::admin_reply(reply, realm, rid);
                }
            };
            // Keys made before the state tier: copied from KV into the authority.
            if path.trim_end_matches('/') == "/keys/adopt" {
                return match crate::admin::adopt_request(&caller, &method, url.query) {
                    Ok(cursor) => match stub.adopt(cursor).await {
                        Some(response) => response,
                        None => problem_response(&Problem::state_unavailable(), realm, rid),
                    },
                    Err(reply) => respond::admin_reply(reply, realm, rid),
                };
            }
            let usage_of = match crate::admin::usage_request(&caller, &method, &path) {
                Ok(id) => id,
                Err(reply) => return respond::admin_reply(reply, realm, rid),
            };
            let Ok(body_text) = String::from_utf8(body) else {
                let p = Problem::new(
                    400,
                    "Invalid request",
                    "invalid_admin_request",
                    "The body must be JSON (UTF-8).",
                );
                return problem_response(&p, realm, rid);
            };
            // Usage: the key's metadata from the authority, then its counters (limits.rs).
            let (method, path) = match &usage_of {
                Some(id) => ("GET".to_string(), format!("/keys/{id}")),
                None => (method, path),
            };
            let call = AuthorityCall::Admin {
                method: method.clone(),
                path: path.clone(),
                query: url.query.map(str::to_string),
                body: body_text,
                caller,
                actor,
                request_id: rid.to_string(),
                ip,
            };
            match stub.call(&call).await {
                Some(response) if usage_of.is_some() => {
                    limits::usage(&stub, response, realm, rid).await
                }
                Some(response) => {
                    // A balance set by PATCH holds at once: the key's credits (if any) are handed
                    // to its counter object, which keeps them only if newer than its own.
                    if method == "PATCH" && response.status() == 200 {
                        if let Ok(copy) = response.clone() {
                            let env_value: JsValue = AsRef::<JsValue>::as_ref(env).clone();
                            ctx.wait_until(async move {
                                let Ok(promise) = copy.text() else { return };
                                let text = wasm_bindgen_futures::JsFuture::from(promise).await;
                                if let Some(meta) = text
                                    .ok()
                                    .and_then(|t| t.as_string())
                                    .and_then(|t| serde_json::from_str(&t).ok())
                                {
                                    limits::push_credits(env_value, meta).await;
                                }
                            });
                        }
                    }
                    // This isolate sees its own change at once: refresh its view from the object.
                    if method != "GET" {
                        ctx.wait_until(state::refresh_view(
                            Rc::clone(gateway),
                            stub,
                            false,
                            state::AUTHORITY_TIMEOUT_MS,
                        ));
                    }
                    response
                }
                None => problem_response(&Problem::state_unavailable(), realm, rid),
            }
        }
        OwnEndpoint::NotFound => {
            let p = Problem::new(404, "Not found", "not_found", "No such endpoint.");
            problem_response(&p, realm, rid)
        }
    }
}

/// Report a failed admin authentication to the audit log, within the isolate's budget.
fn audit_failure(
    ctx: &Context,
    gateway: &Rc<Gateway<CryptoKeyHandle>>,
    stub: &state::AuthorityStub,
    reason: &str,
    rid: &str,
    ip: Option<String>,
) {
    let Some(count) = gateway.auth_failures.note(now().0) else {
        return;
    };
    let call = AuthorityCall::AuthFailed {
        request_id: rid.to_string(),
        ip,
        reason: reason.to_string(),
        count,
    };
    let stub = stub.clone();
    ctx.wait_until(async move {
        let _ = stub.call(&call).await;
    });
}

fn fetch_timeout(gateway: &Gateway<CryptoKeyHandle>) -> u32 {
    u32::try_from(gateway.config.jwks.fetch_timeout_ms).unwrap_or(3_000)
}

/// Background work after the response: JWKS refreshes and `last_used_at` writes.
fn run_followups(
    ctx: &Context,
    gateway: &Rc<Gateway<CryptoKeyHandle>>,
    env: &Env,
    authority: Option<&state::AuthorityStub>,
    followups: Vec<Followup>,
) {
    for followup in followups {
        if let Followup::RenewLeases(calls) = followup {
            if let Some(stub) = authority {
                ctx.wait_until(limits::renew(Rc::clone(gateway), stub.clone(), calls));
            }
            continue;
        }
        let gateway = Rc::clone(gateway);
        let env = env.clone();
        ctx.wait_until(async move {
            match followup {
                Followup::RefreshJwks(refresh) => {
                    let documents = FetchDocuments::new(fetch_timeout(&gateway));
                    let failed = gateway
                        .jwt
                        .refresh(&refresh, &documents, &WebCryptoVerifier, now())
                        .await;
                    if let Some(reason) = failed {
                        let policy = gateway.jwt.issuers().get(refresh.issuer());
                        let jwks_uri =
                            policy.and_then(|p| p.key_source.as_ref()).map(|k| match k {
                                crate::jwt::KeySource::JwksUri(u)
                                | crate::jwt::KeySource::Discovery(u) => u.as_str(),
                            });
                        respond::log_refresh_failure(refresh.issuer(), jwks_uri, reason);
                    }
                    log_key_notes(&gateway);
                }
                Followup::TouchKey(touch) => {
                    let store = Store::new(&env, gateway.config.keys.kv_cache_ttl_seconds());
                    crate::keys::touch(&store, &touch, now()).await;
                }
                Followup::RenewLeases(_) => {}
            }
        });
    }
}
