//! What carrying out a decision may still refuse: the fail-closed choices the Worker makes around
//! the core's [`crate::authn::Decision`] (a request it cannot read, an invalid config, an assertion
//! it cannot sign, an origin it cannot reach, an admin body it cannot take) and which problem each
//! one becomes. (A CSPRNG that fails and a header that cannot be sent are refused in the core
//! itself: `ports::Fill` and `headers::plan_forward`.)
//!
//! Owns those choices and their problems, so they are tested natively; the adapter (`src/edge/`)
//! only detects the failure and calls the function here. Never touches a runtime type, I/O or a
//! clock. Never forwards: every function answers with a refusal or with what may be sent.

use crate::reason::Reason;
use serde_json::Value;

use crate::admin::AdminReply;
use crate::assertion::AssertionSigner;
use crate::config::Config;
use crate::problem::Problem;

/// The realm of a refusal made before the config is known.
pub const FALLBACK_REALM: &str = "api";
/// The request id of a refusal made before the request could be read.
pub const UNKNOWN_REQUEST_ID: &str = "unknown";
/// The error `runtime.js` reports when WebCrypto could not sign the assertion.
pub const ASSERTION_SIGNING_FAILED: &str = Reason::AssertionSigningFailed.as_str();
/// The health endpoint's path while the config (and so the configured admin path) is unknown.
const DEFAULT_HEALTH_PATH: &str = "/_auth/health";

/// The answer to a request while the config is invalid.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigInvalidAnswer {
    /// The health endpoint (at the default admin path): a 500 JSON report that the config is not
    /// loaded.
    Health(Value),
    /// Any other path: [`config_invalid`].
    Problem(Problem),
}

/// What a request for `path` is answered while the config is invalid.
#[must_use]
pub fn config_invalid_answer(path: &str) -> ConfigInvalidAnswer {
    if path == DEFAULT_HEALTH_PATH {
        return ConfigInvalidAnswer::Health(serde_json::json!({
            "status": "config_invalid",
            "version": crate::authn::VERSION,
            "config_loaded": false,
        }));
    }
    ConfigInvalidAnswer::Problem(Problem::config_invalid())
}

/// True when each request needs random bytes before it is decided: the assertion's `jti`, the
/// only per-request use of the CSPRNG.
#[must_use]
pub fn needs_entropy(config: &Config) -> bool {
    config.assertion_signer.is_some()
}

/// The signing input the core planned, with the signer that signs it. The core plans an
/// assertion only when there is a key; a plan without one is refused rather than forwarded
/// unsigned.
///
/// # Errors
/// [`assertion_unavailable`] when an assertion is planned and there is no signer.
pub fn assertion_signing(
    planned: Option<String>,
    signer: Option<&AssertionSigner>,
) -> Result<Option<(String, &AssertionSigner)>, Problem> {
    match (planned, signer) {
        (None, _) => Ok(None),
        (Some(input), Some(signer)) => Ok(Some((input, signer))),
        (Some(_), None) => Err(Problem::assertion_unavailable()),
    }
}

/// A forward that failed in the runtime, by the error it reported: a failed signature is a 500
/// (nothing was sent), anything else an origin that could not be reached (502).
#[must_use]
pub fn forward_failed(error: Option<&str>) -> Problem {
    if error == Some(ASSERTION_SIGNING_FAILED) {
        return Problem::assertion_unavailable();
    }
    Problem::origin_unreachable()
}

/// The keys published at `{admin_path}/jwks.json`: the signer's (current and previous), or with
/// assertions off the configured previous keys only.
#[must_use]
pub fn assertion_jwks(config: &Config) -> Value {
    match &config.assertion_signer {
        Some(signer) => signer.jwks(),
        None => serde_json::json!({ "keys": config.assertion.previous_keys }),
    }
}

/// Why a static asset could not be had from the `ASSETS` binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssetFailure {
    /// `ASSETS` is not in the environment.
    NotBound,
    /// The request could not be built, the binding's fetch failed, or it answered other than 200.
    Failed,
}

/// The OpenAPI document could not be served: 503 either way, saying which (never a 200 with
/// another body).
#[must_use]
pub fn openapi_refusal(failure: AssetFailure) -> Problem {
    match failure {
        AssetFailure::NotBound => Problem::assets_not_bound(),
        AssetFailure::Failed => Problem::openapi_unavailable(),
    }
}

/// The reason to report to the audit log when an admin caller could not be authenticated (a
/// 401); `None` for any other answer.
#[must_use]
pub fn audited_failure(reply: &AdminReply) -> Option<Reason> {
    match reply {
        AdminReply::Problem(p) if p.status == 401 => Some(p.reason),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_refusal(p: &Problem, status: u16, reason: &str) {
        assert_eq!((p.status, p.reason.as_str()), (status, reason));
        // A refusal's body is problem+json and names no secret.
        let body: Value = serde_json::from_str(&p.body("rid")).unwrap();
        assert_eq!(body["status"], status);
        assert_eq!(body["request_id"], "rid");
    }

    #[test]
    fn failures_before_the_decision_are_refusals() {
        assert_refusal(&Problem::unreadable_request(), 400, "bad_request");
        assert_refusal(&Problem::unparsable_url(), 400, "bad_url");
        assert_refusal(&Problem::no_entropy(), 500, "no_entropy");
        assert_eq!(
            Problem::unreadable_request().www_authenticate(FALLBACK_REALM),
            None
        );
    }

    #[test]
    fn an_invalid_config_is_a_500_and_health_says_so_without_the_field() {
        match config_invalid_answer("/v1/anything") {
            ConfigInvalidAnswer::Problem(p) => {
                assert_refusal(&p, 500, "config_invalid");
                assert!(!p.detail.contains("issuers"));
            }
            other => panic!("{other:?}"),
        }
        match config_invalid_answer("/_auth/health") {
            ConfigInvalidAnswer::Health(body) => {
                assert_eq!(body["status"], "config_invalid");
                assert_eq!(body["config_loaded"], false);
                assert_eq!(body["version"], crate::authn::VERSION);
                assert_eq!(body.as_object().unwrap().len(), 3);
            }
            other => panic!("{other:?}"),
        }
        // Only the exact default path: anything else under it is refused.
        assert!(matches!(
            config_invalid_answer("/_auth/health/"),
            ConfigInvalidAnswer::Problem(_)
        ));
    }

    #[test]
    fn a_planned_assertion_without_a_signer_is_refused() {
        assert!(matches!(assertion_signing(None, None), Ok(None)));
        let refused = assertion_signing(Some("input".into()), None).unwrap_err();
        assert_refusal(&refused, 500, "assertion_unavailable");
    }

    /// A minimal config, with `ASSERTION_KEY` bound to an Ed25519 JWK when `signed`.
    fn config(signed: bool) -> Config {
        use base64ct::Encoding as _;
        let d = base64ct::Base64UrlUnpadded::encode_string(&[7u8; 32]);
        let key = format!(r#"{{"kty":"OKP","crv":"Ed25519","d":"{d}","kid":"k1"}}"#);
        let text = r#"{"routes":[{"path":"/**","auth":"public"}]}"#;
        Config::from_json(text, &|name| {
            (signed && name == "ASSERTION_KEY").then(|| key.clone())
        })
        .unwrap()
    }

    #[test]
    fn an_assertion_signer_needs_entropy_and_publishes_its_keys() {
        let off = config(false);
        assert!(!needs_entropy(&off));
        assert_eq!(assertion_jwks(&off), serde_json::json!({ "keys": [] }));
        let on = config(true);
        assert!(needs_entropy(&on));
        let jwks = assertion_jwks(&on);
        assert_eq!(jwks["keys"][0]["kid"], "k1");
        assert!(jwks["keys"][0].get("d").is_none(), "never the private part");
        let signer = on.assertion_signer.as_ref();
        let (input, _) = assertion_signing(Some("input".into()), signer)
            .unwrap()
            .unwrap();
        assert_eq!(input, "input");
    }

    #[test]
    fn a_failed_signature_is_a_500_and_anything_else_a_502() {
        assert_refusal(
            &forward_failed(Some(ASSERTION_SIGNING_FAILED)),
            500,
            "assertion_unavailable",
        );
        for error in [None, Some("TypeError: fetch failed"), Some("")] {
            assert_refusal(&forward_failed(error), 502, "origin_unreachable");
        }
        assert_refusal(
            &Problem::origin_request_invalid(),
            502,
            "origin_request_invalid",
        );
    }

    #[test]
    fn the_openapi_document_is_refused_with_a_503_saying_which() {
        assert_refusal(
            &openapi_refusal(AssetFailure::NotBound),
            503,
            "assets_not_bound",
        );
        assert_refusal(
            &openapi_refusal(AssetFailure::Failed),
            503,
            "openapi_unavailable",
        );
    }

    #[test]
    fn admin_refusals() {
        assert_refusal(&Problem::no_such_endpoint(), 404, "not_found");
        assert_refusal(&Problem::body_too_large(), 413, "body_too_large");
        assert_refusal(&Problem::unreadable_body(), 400, "bad_body");
        assert_refusal(
            &Problem::admin_body_not_utf8(),
            400,
            "invalid_admin_request",
        );
    }

    #[test]
    fn only_a_401_is_audited() {
        let unauthenticated =
            Problem::from(crate::rejection::Rejection::Token(Reason::BadSignature));
        assert_eq!(
            audited_failure(&AdminReply::Problem(unauthenticated)),
            Some(Reason::BadSignature)
        );
        let forbidden = Problem::insufficient_scope(&["admin".to_string()]);
        assert_eq!(audited_failure(&AdminReply::Problem(forbidden)), None);
        assert_eq!(audited_failure(&AdminReply::NoContent), None);
    }
}
