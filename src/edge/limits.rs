//! Rate limits and credits in the runtime (wasm32 only), both sides of a counter object:
//!
//! * inside the object (`AuthState`'s `limits` in entry.mjs, one transaction per call):
//!   [`limits_lease`] and [`limits_usage`] load its one row, let the core
//!   ([`crate::limits::counter`]) answer, and hand the row back to be written;
//! * in the Worker: the lease port (the calls of one request sent together), the usage endpoint,
//!   and what a limited request's response needs (its `RateLimit` fields, the refund of credits
//!   charged only on success).
//!
//! No policy lives here: what is granted, spent, refused or refunded is the core's
//! (`crate::limits`). Never logs a credential; counter names are public ids.

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use worker::Env;

use crate::authn::Gateway;
use crate::limits::counter::{LeaseRules, ObjectState, ObjectUsage};
use crate::limits::lease::{Calls, RefundClaim};
use crate::limits::{LeaseCall, LeaseReply, StoredCredits};
use crate::ports::{Authority, StoreError};
use crate::problem::Problem;

use super::crypto::CryptoKeyHandle;
use super::env::isolate;
use super::response::problem_response;
use super::state::AuthorityStub;

#[wasm_bindgen(module = "/src/edge/runtime.js")]
extern "C" {
    #[wasm_bindgen(js_name = leaseCalls)]
    fn lease_calls_js(env: &JsValue, calls: &js_sys::Array, ms: u32) -> js_sys::Promise;
    #[wasm_bindgen(js_name = limiterUsage)]
    fn limiter_usage_js(env: &JsValue, object: &str, credits: &str, ms: u32) -> js_sys::Promise;
    #[wasm_bindgen(js_name = pause)]
    pub(super) fn pause_js(ms: u32) -> js_sys::Promise;
}

/// How long a request waits for a counter object. A request that needs a lease waits for one
/// call; a slow object must not hold it for the authority's full timeout.
const LEASE_TIMEOUT_MS: u32 = 2_000;

fn rules(env: &Env) -> Result<LeaseRules, JsValue> {
    let gateway = isolate(env).map_err(|_| JsValue::from_str("config_invalid"))?;
    Ok(LeaseRules {
        lease_ms: gateway.config.usage.lease_ms,
        max_lease: gateway.config.usage.max_lease,
    })
}

fn pair(state: Option<String>, reply: String) -> js_sys::Array {
    let out = js_sys::Array::new();
    out.push(&state.map_or(JsValue::UNDEFINED, |s| JsValue::from_str(&s)));
    out.push(&JsValue::from_str(&reply));
    out
}

/// Inside a counter object: answer one lease call (JSON [`LeaseCall`]) at `now_ms`. Returns
/// `[row, reply]`; throws (nothing written, the call fails closed) on a row or call that does not
/// parse.
#[wasm_bindgen(js_name = limitsLease)]
pub fn limits_lease(
    env: Env,
    row: Option<String>,
    body: &str,
    now_ms: f64,
) -> Result<js_sys::Array, JsValue> {
    let rules = rules(&env)?;
    let call: LeaseCall =
        serde_json::from_str(body).map_err(|_| JsValue::from_str("bad_lease_call"))?;
    let mut state =
        ObjectState::load(row.as_deref()).map_err(|_| JsValue::from_str("bad_counter_row"))?;
    let reply = state.lease(&call, super::env::whole_ms(now_ms), rules);
    let row = state
        .save()
        .map_err(|_| JsValue::from_str("bad_counter_row"))?;
    let reply = serde_json::to_string(&reply).map_err(|_| JsValue::from_str("bad_reply"))?;
    Ok(pair(Some(row), reply))
}

/// Inside a counter object: the usage report, after applying `body`'s credits (a
/// [`StoredCredits`] JSON, or empty) when they are newer than the object's.
#[wasm_bindgen(js_name = limitsUsage)]
pub fn limits_usage(
    env: Env,
    row: Option<String>,
    body: &str,
    now_ms: f64,
) -> Result<js_sys::Array, JsValue> {
    let rules = rules(&env)?;
    let now = super::env::whole_ms(now_ms);
    let mut state =
        ObjectState::load(row.as_deref()).map_err(|_| JsValue::from_str("bad_counter_row"))?;
    let mut changed = false;
    if !body.trim().is_empty() {
        let credits: StoredCredits =
            serde_json::from_str(body).map_err(|_| JsValue::from_str("bad_credits"))?;
        state.set_credits(&credits, now, rules);
        changed = true;
    }
    let usage =
        serde_json::to_string(&state.usage(now)).map_err(|_| JsValue::from_str("bad_reply"))?;
    let row = if changed {
        Some(
            state
                .save()
                .map_err(|_| JsValue::from_str("bad_counter_row"))?,
        )
    } else {
        None
    };
    Ok(pair(row, usage))
}

/// The lease port: every call of `calls` sent at once; an answer per call.
pub async fn lease(env: &JsValue, calls: &Calls) -> Vec<Result<LeaseReply, StoreError>> {
    let list = js_sys::Array::new();
    for (object, call) in calls {
        let body = serde_json::to_string(call).unwrap_or_default();
        let item = js_sys::Array::new();
        item.push(&JsValue::from_str(object));
        item.push(&JsValue::from_str(&body));
        list.push(&item);
    }
    let answers = JsFuture::from(lease_calls_js(env, &list, LEASE_TIMEOUT_MS))
        .await
        .ok()
        .map(|v| js_sys::Array::from(&v));
    (0..calls.len())
        .map(|i| {
            let text: String = answers
                .as_ref()
                .and_then(|a| u32::try_from(i).ok().map(|i| a.get(i)))
                .and_then(|v| v.as_string())
                .ok_or(StoreError::Unavailable)?;
            serde_json::from_str(&text).map_err(|_| StoreError::Unavailable)
        })
        .collect()
}

/// Background renewals (a [`crate::authn::Followup::RenewLeases`]).
pub async fn renew(gateway: Rc<Gateway<CryptoKeyHandle>>, stub: AuthorityStub, calls: Calls) {
    let sent = stub.now_ms();
    let answers = stub.lease(&calls).await;
    gateway.install_leases(&stub, &calls, sent, answers);
}

/// What the response of a limited request needs, for `runtime.js` `forward`'s `after`:
/// `{policy, state, settle, ctx}`; `undefined` for a request without limits.
pub fn after(
    gateway: &Rc<Gateway<CryptoKeyHandle>>,
    stub: Option<&AuthorityStub>,
    ctx: &JsValue,
    fields: Option<Box<(String, String)>>,
    refund: Option<Box<RefundClaim>>,
) -> JsValue {
    if fields.is_none() && refund.is_none() {
        return JsValue::UNDEFINED;
    }
    let out = js_sys::Object::new();
    if let Some(fields) = fields {
        let (policy, state) = *fields;
        let _ = js_sys::Reflect::set(&out, &"policy".into(), &policy.into());
        let _ = js_sys::Reflect::set(&out, &"state".into(), &state.into());
    }
    if let (Some(claim), Some(stub)) = (refund, stub) {
        let gateway = Rc::clone(gateway);
        let stub = stub.clone();
        let settle = Closure::once_into_js(move |status: u16| -> JsValue {
            match gateway.settle(&claim, status) {
                Some(calls) => wasm_bindgen_futures::future_to_promise(async move {
                    renew(gateway, stub, calls).await;
                    Ok(JsValue::UNDEFINED)
                })
                .into(),
                None => JsValue::UNDEFINED,
            }
        });
        let _ = js_sys::Reflect::set(&out, &"settle".into(), &settle);
        let _ = js_sys::Reflect::set(&out, &"ctx".into(), ctx);
    }
    out.into()
}

async fn object_usage(env: &JsValue, object: &str, credits: &str) -> Option<ObjectUsage> {
    let text = JsFuture::from(limiter_usage_js(env, object, credits, LEASE_TIMEOUT_MS))
        .await
        .ok()?
        .as_string()?;
    serde_json::from_str(&text).ok()
}

/// `GET {admin_path}/keys/{id}/usage`: the key's metadata from the authority (`metadata`, the
/// answer to `GET /keys/{id}`), then its counters from its object and its principal's.
pub async fn usage(
    stub: &AuthorityStub,
    metadata: web_sys::Response,
    realm: &str,
    rid: &str,
) -> web_sys::Response {
    if metadata.status() != 200 {
        return metadata;
    }
    let unavailable = || problem_response(&Problem::limits_unavailable(), realm, rid);
    let Ok(promise) = metadata.text() else {
        return unavailable();
    };
    let Some(text) = JsFuture::from(promise)
        .await
        .ok()
        .and_then(|v| v.as_string())
    else {
        return unavailable();
    };
    let Ok(meta) = serde_json::from_str::<serde_json::Value>(&text) else {
        return unavailable();
    };
    let field = |name: &str| meta.get(name).and_then(serde_json::Value::as_str);
    let (Some(id), Some(subject)) = (field("meter").or(field("id")), field("subject")) else {
        return unavailable();
    };
    let who = crate::limits::Subject {
        key_id: Some(id),
        client_id: None,
        issuer: field("issuer"),
        subject: Some(subject),
        ip: None,
    };
    let credits = meta
        .get("credits")
        .filter(|c| !c.is_null())
        .map(serde_json::Value::to_string)
        .unwrap_or_default();
    let key_object = crate::limits::object_name(crate::limits::By::Key, &who);
    let principal_object = crate::limits::object_name(crate::limits::By::Principal, &who);
    let key = object_usage(&stub.env, &key_object, &credits).await;
    let principal = object_usage(&stub.env, &principal_object, "").await;
    let (Some(key), Some(principal)) = (key, principal) else {
        return unavailable();
    };
    match crate::limits::usage_report(&meta, &key, &principal) {
        Some(body) => super::response::json(200, &body),
        None => unavailable(),
    }
}

/// After a `PATCH` of a key with credits: hand them to the key's object now, so the new balance holds
/// at once rather than at the next isolate's lease call (best effort: leases carry it anyway).
pub async fn push_credits(env: JsValue, metadata: serde_json::Value) {
    let (Some(id), Some(credits)) = (
        metadata
            .get("meter")
            .or_else(|| metadata.get("id"))
            .and_then(serde_json::Value::as_str),
        metadata.get("credits").filter(|c| !c.is_null()),
    ) else {
        return;
    };
    let _ = object_usage(&env, &format!("key:{id}"), &credits.to_string()).await;
}
