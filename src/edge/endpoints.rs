//! The Worker's own endpoints: health, the assertion JWKS, the OpenAPI document and the console
//! (both from the `ASSETS` binding), redirects, not-found, and the admin API (its body read with
//! a cap, its replies rendered, and its calls on the key authority when the state tier is bound).
//!
//! Owns carrying out an [`OwnEndpoint`] the core chose. Never decides who may call an endpoint
//! (the core's admin module does), which failure becomes which problem (`crate::carry`), or
//! anything about a request for the origin.

use crate::reason::Reason;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::{Context, Env};

use crate::admin::{AdminReply, AdminRequest};
use crate::authn::{Gateway, OwnEndpoint, Ports};
use crate::carry::{self, AssetFailure};
use crate::problem::Problem;
use crate::request_url::RequestUrl;
use crate::state::authority::AuthorityCall;
use crate::state::ViewPlan;

use super::crypto::{CryptoKeyHandle, WebCryptoVerifier};
use super::documents::FetchDocuments;
use super::env::{csprng_fill, fetch_timeout, now, store};
use super::response::{json_response, problem_response, response, API_HEADERS};
use super::{glue, limits, state};

#[wasm_bindgen]
extern "C" {
    /// The static-assets binding (a `Fetcher`).
    type AssetsBinding;

    #[wasm_bindgen(method, catch)]
    fn fetch(this: &AssetsBinding, request: &web_sys::Request) -> Result<js_sys::Promise, JsValue>;
}

/// One request to an edge endpoint: what the handlers here read.
#[derive(Clone, Copy)]
pub struct OwnCall<'a, 'u> {
    pub gateway: &'a Rc<Gateway<CryptoKeyHandle>>,
    pub env: &'a Env,
    pub ctx: &'a Context,
    pub req: &'a web_sys::Request,
    pub url: &'a RequestUrl<'u>,
    pub headers: &'a [(String, String)],
    pub rid: &'a str,
}

/// Serve the endpoint the core chose.
pub async fn own_endpoint(call: OwnCall<'_, '_>, endpoint: OwnEndpoint) -> web_sys::Response {
    let OwnCall {
        gateway,
        env,
        req,
        url,
        rid,
        ..
    } = call;
    let realm = &gateway.config.realm;
    match endpoint {
        OwnEndpoint::Health => health(gateway, env).await,
        OwnEndpoint::Jwks => json_response(
            200,
            &carry::assertion_jwks(&gateway.config),
            &[("cache-control", "public, max-age=300")],
        ),
        OwnEndpoint::OpenApi => openapi(env, url, realm, rid).await,
        OwnEndpoint::Console(path) => console(env, req, url, &path).await,
        OwnEndpoint::Redirect(location) => redirect(&location),
        OwnEndpoint::Api(path) => admin(call, path).await,
        OwnEndpoint::NotFound => problem_response(&Problem::no_such_endpoint(), realm, rid),
    }
}

/// The health report the core builds (200 whether `ok` or `degraded`), with the KV probe and,
/// when the state tier is bound, a current view of recent revocations.
async fn health(gateway: &Rc<Gateway<CryptoKeyHandle>>, env: &Env) -> web_sys::Response {
    let kv = store(env, gateway).probe().await;
    let report = gateway.health(kv, now());
    let report = match state::AuthorityStub::of(env) {
        Some(stub) => {
            // Health shows a current view: refresh it when it is due.
            if gateway.view.plan(state::now_ms_u64()) != ViewPlan::Current {
                state::refresh_view(Rc::clone(gateway), stub, true, state::AWAITED_REFRESH_MS)
                    .await;
            }
            report.with_state(&gateway.view, state::now_ms_u64())
        }
        None => report,
    };
    let body = serde_json::to_value(&report).unwrap_or_else(|_| serde_json::json!({}));
    json_response(200, &body, &[])
}

/// The admin API: the body (capped), then the core's handlers, directly on KV without the state
/// tier, else through the key authority (docs/state.md).
async fn admin(call: OwnCall<'_, '_>, path: String) -> web_sys::Response {
    let OwnCall {
        gateway,
        env,
        ctx,
        req,
        url,
        headers,
        rid,
    } = call;
    let realm = &gateway.config.realm;
    let body = match read_body(req, crate::admin::MAX_BODY_BYTES).await {
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
    let store = store(env, gateway);
    let Some(stub) = state::AuthorityStub::of(env) else {
        // Without the state tier the admin API writes KV directly (docs/state.md).
        let store = state::AdminStore::Kv(&store);
        let ports = Ports::without_state(&store, &documents, &WebCryptoVerifier, 0);
        let reply = gateway
            .admin(admin_req, headers, ports, now(), &mut fill)
            .await;
        return admin_reply(reply, realm, rid);
    };
    let store = state::AdminStore::Kv(&store);
    // A JWT caller is checked against the revocation view like any request (authn
    // `admin_caller`): the view is brought up to date as the core's plan says.
    let view_now_ms = state::current_view(gateway, ctx, &stub).await;
    let ports = Ports {
        store: &store,
        documents: &documents,
        verifier: &WebCryptoVerifier,
        authority: Some(&stub),
        now_ms: view_now_ms,
    };
    let ip = crate::headers::client_ip(headers).map(|v| v.chars().take(64).collect());
    let (caller, actor) = match gateway.admin_caller(&path, headers, &ports, now()).await {
        Ok(found) => found,
        Err(reply) => {
            if let Some(reason) = carry::audited_failure(&reply) {
                audit_failure(ctx, gateway, &stub, reason, rid, ip);
            }
            return admin_reply(reply, realm, rid);
        }
    };
    // Keys made before the state tier: copied from KV into the authority.
    if path.trim_end_matches('/') == "/keys/adopt" {
        return match crate::admin::adopt_request(&caller, &method, url.query) {
            Ok(cursor) => match stub.adopt(cursor).await {
                Some(response) => response,
                None => problem_response(&Problem::state_unavailable(), realm, rid),
            },
            Err(reply) => admin_reply(reply, realm, rid),
        };
    }
    let usage_of = match crate::admin::usage_request(&caller, &method, &path) {
        Ok(id) => id,
        Err(reply) => return admin_reply(reply, realm, rid),
    };
    let Ok(body_text) = String::from_utf8(body) else {
        return problem_response(&Problem::admin_body_not_utf8(), realm, rid);
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
        Some(response) if usage_of.is_some() => limits::usage(&stub, response, realm, rid).await,
        Some(response) => {
            // A balance set by PATCH holds at once: the key's credits (if any) are handed to its
            // counter object, which keeps them only if newer than its own.
            if method == "PATCH" && response.status() == 200 {
                if let Ok(copy) = response.clone() {
                    let env_value: JsValue = AsRef::<JsValue>::as_ref(env).clone();
                    ctx.wait_until(async move {
                        let Ok(promise) = copy.text() else { return };
                        let text = JsFuture::from(promise).await;
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

/// Report a failed admin authentication to the audit log, within the isolate's budget.
fn audit_failure(
    ctx: &Context,
    gateway: &Rc<Gateway<CryptoKeyHandle>>,
    stub: &state::AuthorityStub,
    reason: Reason,
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

/// `GET {admin_path}/openapi.json`: the committed document (`docs/openapi.json`, in the assets
/// directory as the git symlink `www/openapi.json`), fetched from `ASSETS` and answered with our
/// own headers (its server URL is the default `/_auth`; a custom `admin_path` changes the prefix,
/// as the document says). Not embedded in the wasm: 102 KB raw, ~12 KiB of the gzip budget.
/// Without `ASSETS`, or when it has no such file, 503 problem+json (`Problem::assets_not_bound`
/// says why 503), never a 200 with another body.
async fn openapi(
    env: &Env,
    url: &RequestUrl<'_>,
    realm: &str,
    request_id: &str,
) -> web_sys::Response {
    let refused = |failure| problem_response(&carry::openapi_refusal(failure), realm, request_id);
    let resp = match fetch_asset(env, url, "/openapi.json", "GET").await {
        Ok(r) if r.status() == 200 => r,
        Ok(_) => return refused(AssetFailure::Failed),
        Err(failure) => return refused(failure),
    };
    let init = web_sys::ResponseInit::new();
    init.set_status(200);
    if let Ok(h) = web_sys::Headers::new() {
        let _ = h.set("content-type", "application/json");
        let _ = h.set("cache-control", "public, max-age=300");
        let _ = h.set("x-content-type-options", "nosniff");
        init.set_headers(&h);
    }
    web_sys::Response::new_with_opt_readable_stream_and_init(resp.body().as_ref(), &init)
        .unwrap_or_else(|_| refused(AssetFailure::Failed))
}

/// A permanent redirect to a path the core built (never from the request's own text).
fn redirect(location: &str) -> web_sys::Response {
    response(308, None, &[("location", location)])
}

/// The static console from the `ASSETS` binding, with strict headers.
async fn console(
    env: &Env,
    req: &web_sys::Request,
    url: &RequestUrl<'_>,
    path: &str,
) -> web_sys::Response {
    let not_found = || response(404, Some("not found"), &[("content-type", "text/plain")]);
    let asset_path = if path == "/" { "/index.html" } else { path };
    let Ok(resp) = fetch_asset(env, url, asset_path, &req.method()).await else {
        return not_found();
    };
    let headers = web_sys::Headers::new_with_headers(&resp.headers()).ok();
    let init = web_sys::ResponseInit::new();
    init.set_status(resp.status());
    if let Some(h) = headers {
        let _ = h.set(
            "content-security-policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        );
        let _ = h.set("x-frame-options", "DENY");
        // No page that opened the console keeps a handle on it (to send it elsewhere later).
        let _ = h.set("cross-origin-opener-policy", "same-origin");
        // Not kept by caches, nor restored from the back/forward cache with a token on screen.
        let _ = h.set("cache-control", "no-store");
        let _ = h.set("referrer-policy", "no-referrer");
        let _ = h.set("x-content-type-options", "nosniff");
        init.set_headers(&h);
    }
    web_sys::Response::new_with_opt_readable_stream_and_init(resp.body().as_ref(), &init)
        .unwrap_or_else(|_| not_found())
}

/// `path` (starting with `/`) from the `ASSETS` binding, with `method` and nothing else of the
/// request (no conditional headers: the answer is always the whole file or an error status).
async fn fetch_asset(
    env: &Env,
    url: &RequestUrl<'_>,
    path: &str,
    method: &str,
) -> Result<web_sys::Response, AssetFailure> {
    let env_value: &JsValue = env.as_ref();
    let binding = js_sys::Reflect::get(env_value, &JsValue::from_str("ASSETS"))
        .map_err(|_| AssetFailure::NotBound)?;
    if binding.is_undefined() {
        return Err(AssetFailure::NotBound);
    }
    let assets: AssetsBinding = binding.unchecked_into();
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let asset_req =
        web_sys::Request::new_with_str_and_init(&format!("{}{}", url.origin, path), &init)
            .map_err(|_| AssetFailure::Failed)?;
    let promise = assets.fetch(&asset_req).map_err(|_| AssetFailure::Failed)?;
    JsFuture::from(promise)
        .await
        .ok()
        .and_then(|v| v.dyn_into::<web_sys::Response>().ok())
        .ok_or(AssetFailure::Failed)
}

/// Render an admin reply.
pub fn admin_reply(reply: AdminReply, realm: &str, request_id: &str) -> web_sys::Response {
    match reply {
        AdminReply::Json { status, body } => json_response(status, &body, &[]),
        AdminReply::NoContent => {
            let mut headers: Vec<(&str, &str)> = Vec::new();
            headers.extend(API_HEADERS);
            response(204, None, &headers)
        }
        AdminReply::Problem(p) => problem_response(&p, realm, request_id),
    }
}

/// How much of an oversized admin request body is still read (and dropped) before the upload is
/// cancelled, so a client still sending a modest body receives the 413.
const ADMIN_DRAIN_BYTES: u32 = 1024 * 1024;

/// Read a request body of at most `limit` bytes (413 beyond it).
async fn read_body(req: &web_sys::Request, limit: usize) -> Result<Vec<u8>, Problem> {
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(Problem::body_too_large());
    }
    if req.body().is_none() {
        return Ok(Vec::new());
    }
    // Streamed with a cap: a body without Content-Length is never read past `limit`.
    let cap = u32::try_from(limit).unwrap_or(u32::MAX);
    let read = JsFuture::from(glue::read_body_capped(req.as_ref(), cap, ADMIN_DRAIN_BYTES))
        .await
        .map_err(|_| Problem::unreadable_body())?;
    if read.is_null() {
        return Err(Problem::body_too_large());
    }
    let bytes: js_sys::Uint8Array = read.dyn_into().map_err(|_| Problem::unreadable_body())?;
    if bytes.length() as usize > limit {
        return Err(Problem::body_too_large());
    }
    Ok(bytes.to_vec())
}
