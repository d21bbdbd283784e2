//! Building responses, forwarding to the origin, serving the console and the OpenAPI document,
//! and the decision log.

use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::Env;

use crate::authn::LogFacts;
use crate::config::{Config, ConfigError};
use crate::problem::Problem;
use crate::request_url::RequestUrl;

#[wasm_bindgen]
extern "C" {
    /// The static-assets binding (a `Fetcher`).
    type AssetsBinding;

    #[wasm_bindgen(method, catch)]
    fn fetch(this: &AssetsBinding, request: &web_sys::Request) -> Result<js_sys::Promise, JsValue>;
}

fn response(status: u16, body: Option<&str>, headers: &[(&str, &str)]) -> web_sys::Response {
    let init = web_sys::ResponseInit::new();
    init.set_status(status);
    if let Ok(h) = web_sys::Headers::new() {
        for (name, value) in headers {
            let _ = h.set(name, value);
        }
        init.set_headers(&h);
    }
    match web_sys::Response::new_with_opt_str_and_init(body, &init) {
        Ok(r) => r,
        // Constructing a response only fails for invalid statuses; ours are constants.
        Err(_) => web_sys::Response::new().unwrap_or_else(|_| JsValue::NULL.unchecked_into()),
    }
}

const API_HEADERS: [(&str, &str); 2] = [
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
];

/// A rejection: status, `WWW-Authenticate`, `Retry-After` and a problem+json body.
pub fn problem_response(problem: &Problem, realm: &str, request_id: &str) -> web_sys::Response {
    let body = problem.body(request_id);
    let challenge = problem.www_authenticate(realm);
    let retry = problem.retry_after.map(|s| s.to_string());
    let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/problem+json")];
    headers.extend(API_HEADERS);
    if let Some(c) = challenge.as_deref() {
        headers.push(("www-authenticate", c));
    }
    if let Some(r) = retry.as_deref() {
        headers.push(("retry-after", r));
    }
    if let Some(fields) = &problem.rate_limit {
        headers.push(("ratelimit-policy", &fields.0));
        headers.push(("ratelimit", &fields.1));
    }
    response(problem.status, Some(&body), &headers)
}

/// A JSON answer of the edge's own API (`no-store`).
pub fn json(status: u16, value: &serde_json::Value) -> web_sys::Response {
    json_response(status, value, &[])
}

fn json_response(
    status: u16,
    value: &serde_json::Value,
    extra: &[(&str, &str)],
) -> web_sys::Response {
    let body = value.to_string();
    let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
    headers.extend(API_HEADERS);
    headers.extend_from_slice(extra);
    response(status, Some(&body), &headers)
}

/// Every request while the config is invalid: 500, nothing forwarded. The health endpoint (at the
/// default admin path, the configured one being unknown) says why in a field name only.
pub fn config_invalid(path: &str, request_id: &str) -> web_sys::Response {
    if path == "/_auth/health" {
        let body = serde_json::json!({
            "status": "config_invalid",
            "version": super::VERSION,
            "config_loaded": false,
        });
        return json_response(500, &body, &[]);
    }
    let p = Problem::new(
        500,
        "Configuration error",
        "config_invalid",
        "The edge is misconfigured; the operator's log names the field.",
    );
    problem_response(&p, "api", request_id)
}

/// Log which field of the config is wrong, once per isolate.
pub fn log_config_error(error: &ConfigError) {
    let line = serde_json::json!({
        "level": "error",
        "event": "config_invalid",
        "field": error.field,
        "reason": error.reason,
    });
    worker::console_error!("{}", line);
}

/// Log the config's warnings (valid but suspicious claim paths), once per isolate.
pub fn log_config_warnings(config: &Config) {
    for (index, policy) in config.issuers.iter().enumerate() {
        for warning in policy.mapping.warnings() {
            let line = serde_json::json!({
                "level": "warn",
                "event": "config_warning",
                "warning": format!("issuers[{index}].{warning}"),
                "issuer": policy.issuer,
            });
            worker::console_warn!("{}", line);
        }
    }
}

/// The health report the core built: 200 whether `ok` or `degraded`.
pub fn health(report: &crate::authn::HealthReport) -> web_sys::Response {
    let body = serde_json::to_value(report).unwrap_or_else(|_| serde_json::json!({}));
    json_response(200, &body, &[])
}

/// The public keys that sign `X-Auth-Assertion` (empty when assertions are off).
pub fn assertion_jwks(config: &Config) -> web_sys::Response {
    let body = match &config.assertion_signer {
        Some(signer) => signer.jwks(),
        None => serde_json::json!({ "keys": config.assertion.previous_keys }),
    };
    json_response(200, &body, &[("cache-control", "public, max-age=300")])
}

/// `GET {admin_path}/openapi.json`: the committed document (`docs/openapi.json`, in the assets
/// directory as the git symlink `www/openapi.json`), fetched from `ASSETS` and answered with our
/// own headers (its server URL is the default `/_auth`; a custom `admin_path` changes the prefix,
/// as the document says). Not embedded in the wasm: 102 KB raw, ~12 KiB of the gzip budget.
/// Without `ASSETS`, or when it has no such file, 503 problem+json (`Problem::assets_not_bound`
/// says why 503), never a 200 with another body.
pub async fn openapi(
    env: &Env,
    url: &RequestUrl<'_>,
    realm: &str,
    request_id: &str,
) -> web_sys::Response {
    let resp = match fetch_asset(env, url, "/openapi.json", "GET").await {
        Ok(r) if r.status() == 200 => r,
        Ok(_) | Err(AssetFailure::Failed) => {
            return problem_response(&Problem::openapi_unavailable(), realm, request_id)
        }
        Err(AssetFailure::NotBound) => {
            return problem_response(&Problem::assets_not_bound(), realm, request_id)
        }
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
        .unwrap_or_else(|_| problem_response(&Problem::openapi_unavailable(), realm, request_id))
}

/// A permanent redirect to a path the core built (never from the request's own text).
pub fn redirect(location: &str) -> web_sys::Response {
    response(308, None, &[("location", location)])
}

/// The static console from the `ASSETS` binding, with strict headers.
pub async fn console(
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
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        );
        let _ = h.set("x-frame-options", "DENY");
        let _ = h.set("referrer-policy", "no-referrer");
        let _ = h.set("x-content-type-options", "nosniff");
        init.set_headers(&h);
    }
    web_sys::Response::new_with_opt_readable_stream_and_init(resp.body().as_ref(), &init)
        .unwrap_or_else(|_| not_found())
}

/// Why `fetch_asset` has no response.
enum AssetFailure {
    /// `ASSETS` is not in the environment.
    NotBound,
    /// The request could not be built, or the binding's fetch failed.
    Failed,
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
pub fn admin_reply(
    reply: crate::admin::AdminReply,
    realm: &str,
    request_id: &str,
) -> web_sys::Response {
    match reply {
        crate::admin::AdminReply::Json { status, body } => json_response(status, &body, &[]),
        crate::admin::AdminReply::NoContent => {
            let mut headers: Vec<(&str, &str)> = Vec::new();
            headers.extend(API_HEADERS);
            response(204, None, &headers)
        }
        crate::admin::AdminReply::Problem(p) => problem_response(&p, realm, request_id),
    }
}

/// How much of an oversized admin request body is still read (and dropped) before the upload is
/// cancelled, so a client still sending a modest body receives the 413.
const ADMIN_DRAIN_BYTES: u32 = 1024 * 1024;

/// Reads at most `limit` bytes of a fetched response's body, counted after content decoding,
/// as the `Uint8Array` the promise resolves to; it resolves to `null` once the body is longer,
/// and the stream is then cancelled at once (nothing is drained).
pub fn read_response_capped(response: &web_sys::Response, limit: u32) -> js_sys::Promise {
    read_body_capped_js(response.as_ref(), limit, 0)
}

/// Read a request body of at most `limit` bytes (413 beyond it).
pub async fn read_body(req: &web_sys::Request, limit: usize) -> Result<Vec<u8>, Problem> {
    let too_large = || {
        Problem::new(
            413,
            "Payload too large",
            "body_too_large",
            "Request bodies are limited to 16 KiB.",
        )
    };
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    if req.body().is_none() {
        return Ok(Vec::new());
    }
    let unreadable = || {
        Problem::new(
            400,
            "Invalid request",
            "bad_body",
            "The request body could not be read.",
        )
    };
    // Streamed with a cap: a body without Content-Length is never read past `limit`.
    let cap = u32::try_from(limit).unwrap_or(u32::MAX);
    let read = JsFuture::from(read_body_capped_js(req.as_ref(), cap, ADMIN_DRAIN_BYTES))
        .await
        .map_err(|_| unreadable())?;
    if read.is_null() {
        return Err(too_large());
    }
    let bytes: js_sys::Uint8Array = read.dyn_into().map_err(|_| unreadable())?;
    if bytes.length() as usize > limit {
        return Err(too_large());
    }
    Ok(bytes.to_vec())
}

#[wasm_bindgen(module = "/src/edge/runtime.js")]
extern "C" {
    #[wasm_bindgen(js_name = requestFacts)]
    fn request_facts_js(request: &web_sys::Request) -> String;

    #[wasm_bindgen(js_name = forward)]
    fn forward_js(
        target: &str,
        request: &web_sys::Request,
        edits: &str,
        on_error: &BadGatewayHandler,
        request_id: &str,
        realm: &str,
        assertion: Option<&str>,
        key: &JsValue,
        after: &JsValue,
    ) -> JsValue;

    #[wasm_bindgen(js_name = importAssertionKey)]
    fn import_assertion_key_js(jwk: &str) -> JsValue;

    #[wasm_bindgen(js_name = logLine)]
    fn log_line_js(line: &str);

    /// `message` is a `Request` (admin bodies) or a `Response` (fetched documents).
    #[wasm_bindgen(js_name = readBodyCapped)]
    fn read_body_capped_js(message: &JsValue, limit: u32, drain: u32) -> js_sys::Promise;
}

/// The request's method, URL and headers as a JSON array (see `runtime.js`).
pub fn request_facts(request: &web_sys::Request) -> String {
    request_facts_js(request)
}

thread_local! {
    /// The assertion key imported into WebCrypto: a promise of a `CryptoKey`, made on first use
    /// (the isolate's config, and so its key, never changes).
    static ASSERTION_KEY: std::cell::RefCell<Option<JsValue>> = const { std::cell::RefCell::new(None) };
}

/// The promise of the signing key for `signer`, imported once per isolate.
pub fn assertion_key(signer: &crate::assertion::AssertionSigner) -> JsValue {
    ASSERTION_KEY.with(|cell| {
        if let Ok(slot) = cell.try_borrow() {
            if let Some(key) = slot.as_ref() {
                return key.clone();
            }
        }
        let key = match signer.active_private_jwk() {
            Some(jwk) => import_assertion_key_js(&jwk),
            None => JsValue::UNDEFINED,
        };
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = Some(key.clone());
        }
        key
    })
}

/// An assertion to sign on the way out: its signing input and the key (a `CryptoKey` promise).
pub struct PendingAssertion {
    pub input: String,
    pub key: JsValue,
}

/// Forward to the origin (one crossing: build the request, edit its headers, sign the assertion
/// through WebCrypto, fetch). Returns the origin's response promise; a failed fetch becomes a 502
/// problem, a failed signature a 500 (and nothing is sent).
pub fn forward(
    target: &str,
    incoming: &web_sys::Request,
    edits: &str,
    request_id: &str,
    realm: &str,
    assertion: Option<&PendingAssertion>,
    after: &JsValue,
) -> JsValue {
    let (input, key) = match assertion {
        Some(a) => (Some(a.input.as_str()), &a.key),
        None => (None, &JsValue::UNDEFINED),
    };
    BAD_GATEWAY.with(|on_error| {
        forward_js(
            target, incoming, edits, on_error, request_id, realm, input, key, after,
        )
    })
}

#[wasm_bindgen]
extern "C" {
    /// A JS function taking `(request_id, realm, error)`.
    type BadGatewayHandler;
}

thread_local! {
    /// `(request_id, realm, error) => 502 problem`, made once per isolate (not a closure per
    /// request).
    static BAD_GATEWAY: BadGatewayHandler = {
        let handler = Closure::<dyn Fn(JsValue, JsValue, JsValue) -> JsValue>::new(
            |request_id: JsValue, realm: JsValue, error: JsValue| -> JsValue {
                let request_id = request_id.as_string().unwrap_or_default();
                let realm = realm.as_string().unwrap_or_default();
                let p = if error.as_string().as_deref() == Some("assertion_signing_failed") {
                    assertion_unavailable()
                } else {
                    Problem::new(
                        502,
                        "Bad gateway",
                        "origin_unreachable",
                        "The origin could not be reached.",
                    )
                };
                log_origin_error(&request_id, p.reason, p.status);
                problem_response(&p, &realm, &request_id).into()
            },
        );
        handler.into_js_value().unchecked_into()
    };
}

/// The assertion could not be signed: refuse rather than forward without it.
pub fn assertion_unavailable() -> Problem {
    Problem::new(
        500,
        "Internal error",
        "assertion_unavailable",
        "The edge could not sign its assertion; nothing was forwarded.",
    )
}

/// A forwarded request whose origin could not be reached: a second line after its decision.
fn log_origin_error(request_id: &str, reason: &str, status: u16) {
    let line = serde_json::json!({
        "time": super::now_ms(),
        "request_id": request_id,
        "outcome": "origin_error",
        "status": status,
        "reason": reason,
    });
    log_line_js(&crate::log::escape_line_separators(line.to_string()));
}

/// A background JWKS refresh failed (stale keys are still served): a line naming the issuer,
/// its configured JWKS (or discovery) URL and the reason.
pub fn log_refresh_failure(issuer: &str, jwks_uri: Option<&str>, reason: &str) {
    let line = serde_json::json!({
        "time": super::now_ms(),
        "outcome": "jwks_refresh_failed",
        "reason": reason,
        "issuer": issuer,
        "jwks_uri": jwks_uri,
    });
    log_line_js(&crate::log::escape_line_separators(line.to_string()));
}

/// A fetched JWKS leaves some of the issuer's `algorithms` without a key: once per fetch.
pub fn log_unused_algorithms(note: &crate::jwks::cache::UnusedAlgorithms) {
    let algorithms: Vec<&str> = note.algorithms.iter().map(|a| a.as_str()).collect();
    let line = serde_json::json!({
        "time": super::now_ms(),
        "outcome": "jwks_unused_algorithms",
        "issuer": note.issuer,
        "unused_algorithms": algorithms,
    });
    log_line_js(&crate::log::escape_line_separators(line.to_string()));
}

/// One JSON line per decision. Holds no credential, hash or secret.
#[derive(Serialize)]
pub struct LogLine {
    pub time: f64,
    pub request_id: String,
    pub method: String,
    pub path: String,
    pub outcome: &'static str,
    /// The edge's own answer; absent when forwarded (the origin answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<usize>,
    /// The matched route's pattern as configured (`/v1/**`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The configured JWKS (or discovery) URL of an issuer whose keys cannot be fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The binding at fault (`AUTH_KV` for `kv_not_bound`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding: Option<&'static str>,
    pub duration_ms: f64,
}

impl LogLine {
    pub fn new(request_id: &str, method: &str, path: &str, started: f64) -> Self {
        LogLine {
            time: started,
            request_id: request_id.to_string(),
            method: method.to_string(),
            path: path.chars().take(512).collect(),
            outcome: "",
            status: None,
            reason: "",
            route: None,
            route_path: None,
            kind: None,
            subject: None,
            key_id: None,
            issuer: None,
            kid: None,
            jwks_uri: None,
            binding: None,
            duration_ms: 0.0,
        }
    }

    pub fn facts(&mut self, facts: &LogFacts) {
        self.reason = facts.reason;
        self.route = facts.route;
        self.route_path.clone_from(&facts.route_path);
        self.kind = facts.kind.map(|k| k.as_str());
        self.subject.clone_from(&facts.subject);
        self.key_id.clone_from(&facts.key_id);
        self.issuer.clone_from(&facts.issuer);
        self.kid.clone_from(&facts.kid);
        self.jwks_uri.clone_from(&facts.jwks_uri);
        self.binding = facts.binding;
    }

    pub fn finish(&mut self, now_ms: f64) {
        self.duration_ms = now_ms - self.time;
    }
}

pub fn log_decision(line: &LogLine) {
    if let Ok(text) = serde_json::to_string(line) {
        log_line_js(&crate::log::escape_line_separators(text));
    }
}
