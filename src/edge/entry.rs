//! The fetch entry and [`handle`]: read the request's facts, run the core's pipeline with the
//! ports, carry out its decision (answer, forward or serve an own endpoint), start the background
//! work it asked for, and log the decision line.
//!
//! Owns the order of those steps and the synchronous fast path (a request that needs no I/O is
//! decided in one poll and the origin's promise handed straight back). Never decides: every
//! "may this request pass" question is the core's (`Gateway::decide`), and every refusal of the
//! adapter's own steps is `crate::carry`'s.

use std::future::Future;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll, Waker};

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{Context, Env};

use crate::authn::{Decision, Followup, Gateway, Ports, RequestParts};
use crate::carry::{self, ConfigInvalidAnswer};
use crate::log::LogLine;
use crate::problem::Problem;
use crate::request_url::RequestUrl;

use super::crypto::{CryptoKeyHandle, WebCryptoVerifier};
use super::documents::FetchDocuments;
use super::endpoints::{own_endpoint, OwnCall};
use super::env::{self, fetch_timeout, isolate, now, now_ms, store};
use super::forward::{self, PendingAssertion};
use super::response::{json_response, problem_response};
use super::{glue, limits, log, state};

/// The request's method, URL and headers, in one boundary crossing (`runtime.js`).
struct RequestFacts {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
}

impl RequestFacts {
    fn read(req: &web_sys::Request) -> Option<Self> {
        let list: Vec<String> = serde_json::from_str(&glue::request_facts(req)).ok()?;
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
        /// `forward::order`: target, request id, realm and the header edits.
        order: String,
        assertion: Option<PendingAssertion>,
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
            order,
            assertion,
            after,
        } => forward::forward(&order, &incoming, assertion.as_ref(), &after),
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
        let p = Problem::unreadable_request();
        return Step::Answer(problem_response(
            &p,
            carry::FALLBACK_REALM,
            carry::UNKNOWN_REQUEST_ID,
        ));
    };
    #[cfg(feature = "fault-injection")]
    super::fault::inject(&headers).await;
    let rid = env::request_id(&headers);
    let Ok(url) = RequestUrl::parse(&url_text) else {
        let p = Problem::unparsable_url();
        return Step::Answer(problem_response(&p, carry::FALLBACK_REALM, &rid));
    };
    let mut line = LogLine::new(&rid, &method, url.path, started);

    let gateway = match isolate(&env) {
        Ok(g) => g,
        Err(_) => return Step::Answer(config_invalid(url.path, &rid, &mut line)),
    };
    let entropy = if carry::needs_entropy(&gateway.config) {
        match env::entropy() {
            Some(bytes) => bytes,
            None => {
                let p = Problem::no_entropy();
                return Step::Answer(problem_response(&p, &gateway.config.realm, &rid));
            }
        }
    } else {
        [0u8; 16]
    };

    let store = store(&env, &gateway);
    let documents = FetchDocuments::new(fetch_timeout(&gateway));
    let verifier = WebCryptoVerifier;
    // The state tier: the view of recent revocations is refreshed as the core's plan says (in
    // the background after 1 s; first, when older than the bound).
    let authority = state::AuthorityStub::of(&env);
    let view_now_ms = match &authority {
        Some(stub) => state::current_view(&gateway, &ctx, stub).await,
        None => state::now_ms_u64(),
    };
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
            line.rejected(&problem);
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
            let assertion =
                carry::assertion_signing(assertion, gateway.config.assertion_signer.as_ref()).map(
                    |planned| {
                        planned.map(|(input, signer)| PendingAssertion {
                            input,
                            key: forward::assertion_key(signer),
                        })
                    },
                );
            let order = forward::order(&target, &rid, realm, &plan)
                .map_err(|crate::headers::Unsendable| Problem::origin_request_invalid());
            match assertion.and_then(|a| order.map(|o| (a, o))) {
                Err(p) => {
                    line.rejected(&p);
                    Step::Answer(problem_response(&p, realm, &rid))
                }
                Ok((assertion, order)) => {
                    line.forwarded();
                    Step::Forward {
                        incoming: Clone::clone(&req),
                        order,
                        assertion,
                        after,
                    }
                }
            }
        }
        Decision::Own(endpoint) => {
            let call = OwnCall {
                gateway: &gateway,
                env: &env,
                ctx: &ctx,
                req: &req,
                url: &url,
                headers: &headers,
                rid: &rid,
            };
            let resp = own_endpoint(call, endpoint).await;
            line.own(resp.status());
            Step::Answer(resp)
        }
    };
    line.finish(now_ms());
    log::decision(&line);
    log::key_notes(&gateway);
    step
}

/// Every request while the config is invalid: `crate::carry`'s answer, and the decision line.
/// Out of line: it never runs in a working deployment.
#[cold]
#[inline(never)]
fn config_invalid(path: &str, rid: &str, line: &mut LogLine) -> web_sys::Response {
    line.rejected(&Problem::config_invalid());
    log::decision(line);
    match carry::config_invalid_answer(path) {
        ConfigInvalidAnswer::Health(body) => json_response(500, &body, &[]),
        ConfigInvalidAnswer::Problem(p) => problem_response(&p, carry::FALLBACK_REALM, rid),
    }
}

/// Background work after the response: JWKS refreshes, `last_used_at` writes and lease renewals.
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
                        log::refresh_failure(refresh.issuer(), jwks_uri, reason);
                    }
                    log::key_notes(&gateway);
                }
                Followup::TouchKey(touch) => {
                    crate::keys::touch(&store(&env, &gateway), &touch, now()).await;
                }
                Followup::RenewLeases(_) => {}
            }
        });
    }
}
