//! Building the edge's own `Response`s: a status, headers and a body; a problem+json refusal
//! with its `WWW-Authenticate`, `Retry-After` and `RateLimit` fields; a JSON answer.
//!
//! Owns turning a core value (a [`Problem`], a JSON value) into a `web_sys::Response`, with the
//! headers every API answer carries. Never chooses which answer a request gets (the core and
//! `crate::carry` do) and never touches the origin's responses.

use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;

use crate::problem::Problem;

/// A response with `status`, `body` and exactly `headers`.
pub fn response(status: u16, body: Option<&str>, headers: &[(&str, &str)]) -> web_sys::Response {
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

/// The headers of every answer of the edge's own API.
pub const API_HEADERS: [(&str, &str); 2] = [
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

/// A JSON answer with the API headers and `extra` (which may set `cache-control` again).
pub fn json_response(
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
