//! Rejections rendered as RFC 6750 `WWW-Authenticate` challenges and RFC 9457 problem documents.
//! Texts are static or built from the config and request ids only: never from a credential.

use crate::reason::Reason;
use serde::Serialize;

use crate::rejection::{CredentialRefusal, Dependency, Rejection};

/// The RFC 6750 error code carried in `WWW-Authenticate` and the problem body's `error` member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BearerError {
    InvalidRequest,
    InvalidToken,
    InsufficientScope,
}

impl BearerError {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            BearerError::InvalidRequest => "invalid_request",
            BearerError::InvalidToken => "invalid_token",
            BearerError::InsufficientScope => "insufficient_scope",
        }
    }
}

/// How a rejection challenges the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// No `WWW-Authenticate` header.
    None,
    /// `Bearer realm="…"` without an error attribute: no credential was sent.
    Bearer,
    /// `Bearer realm="…", error="…"` (and `scope="…"` for `insufficient_scope`).
    BearerError(BearerError),
}

/// A rejection at the edge: status, challenge and problem document, with nothing forwarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub status: u16,
    /// Short, static summary (`title` in RFC 9457).
    pub title: &'static str,
    /// Human explanation; never contains a credential or a secret.
    pub detail: String,
    pub challenge: Challenge,
    /// Required scopes, for `insufficient_scope`.
    pub scope: Option<String>,
    /// Seconds, for 503.
    pub retry_after: Option<u64>,
    /// Machine-readable reason code for logs (`missing_credential`, `bad_checksum`, …).
    pub reason: Reason,
    /// The `error` member where no RFC 6750 code applies (429 `rate_limited`).
    pub error: Option<&'static str>,
    /// `RateLimit-Policy` and `RateLimit` values, on a 429 of a limited request.
    pub rate_limit: Option<Box<(String, String)>>,
}

/// What the missing-credential 401 tells the client to send.
pub const MISSING_CREDENTIAL_DETAIL: &str =
    "Send a credential: Authorization: Bearer <token> or X-API-Key: <key>.";

impl From<Rejection> for Problem {
    fn from(rejection: Rejection) -> Self {
        Problem::from_rejection(rejection)
    }
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    request_id: &'a str,
}

impl Problem {
    /// Private: every problem has a named constructor below, so the set of reasons, titles and
    /// details lives in this file and nowhere else.
    #[must_use]
    fn new(status: u16, title: &'static str, reason: Reason, detail: impl Into<String>) -> Self {
        Problem {
            status,
            title,
            detail: detail.into(),
            challenge: Challenge::None,
            scope: None,
            retry_after: None,
            reason,
            error: None,
            rate_limit: None,
        }
    }

    /// 429 over a limit (`rate_limited`) or out of credits (`credits_exhausted`), with the
    /// `RateLimit` fields and `Retry-After` (none for credits that never refill).
    #[must_use]
    pub fn over_limit(refusal: crate::limits::lease::Refusal) -> Self {
        let base = if refusal.credits {
            Problem {
                error: Some("credits_exhausted"),
                ..Problem::new(
                    429,
                    "Out of credits",
                    Reason::CreditsExhausted,
                    "This key has no usage credits left.",
                )
            }
        } else {
            Problem {
                error: Some("rate_limited"),
                ..Problem::new(
                    429,
                    "Too many requests",
                    Reason::LimitExceeded,
                    "A rate limit of this API is exhausted; retry after the time given.",
                )
            }
        };
        Problem {
            retry_after: refusal.retry_after,
            rate_limit: refusal.fields.map(Box::new),
            ..base
        }
    }

    /// The one conversion of an authentication [`Rejection`] to the wire: 400 `invalid_request`
    /// for malformed credential headers, 401 `invalid_token` for a credential at fault, 429 for
    /// the failed-authentication budget, 503 with `Retry-After` when a dependency cannot answer
    /// (an issuer is named by its configured `issuer`, never its JWKS URL), 500 for a missing
    /// `AUTH_KV`. The pipeline and the admin API alike.
    #[must_use]
    pub fn from_rejection(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Malformed(m) => Problem::invalid_request(m.reason(), m.detail()),
            Rejection::Credential(c) => {
                let detail = match c {
                    CredentialRefusal::TooLarge => {
                        "The credential is larger than any this API accepts (16 KiB).".to_string()
                    }
                    CredentialRefusal::Unrecognised => {
                        "The credential is neither a JWT nor a key of a known kind.".to_string()
                    }
                    CredentialRefusal::JwtInApiKeyHeader => {
                        "X-API-Key carries API keys and PATs only; send JWTs as Bearer tokens."
                            .to_string()
                    }
                    CredentialRefusal::KindNotAccepted { kind, accepted } => format!(
                        "This route does not accept a credential of kind {}. This route accepts: {}.",
                        kind.as_str(),
                        accepted.names().join(", ")
                    ),
                    CredentialRefusal::IssuerNotAccepted => {
                        "This resource does not accept credentials from this issuer.".to_string()
                    }
                };
                Problem::invalid_token(c.reason(), detail)
            }
            Rejection::Token(reason) => {
                Problem::invalid_token(reason, "The token is not valid for this API.")
            }
            Rejection::Key(reason) => Problem::invalid_token(reason, "The key is not valid."),
            Rejection::Revoked(reason) => {
                Problem::invalid_token(reason, "The credential has been revoked.")
            }
            Rejection::BadAdminToken => {
                Problem::invalid_token(Reason::BadAdminToken, "The admin token is not valid.")
            }
            Rejection::TooManyFailures { retry_after } => Problem::too_many_failures(retry_after),
            Rejection::KvNotBound => Problem::kv_not_bound(crate::ports::KV_BINDING),
            Rejection::Unavailable {
                dependency,
                reason,
                retry_after,
            } => {
                let detail = match dependency {
                    Dependency::IssuerKeys(Some(issuer)) => {
                        format!("The signing keys of issuer {issuer} cannot be fetched right now.")
                    }
                    Dependency::IssuerKeys(None) => {
                        "The token issuer's keys cannot be fetched right now.".to_string()
                    }
                    Dependency::KeyStore => "Keys cannot be looked up right now.".to_string(),
                    Dependency::Revocations => {
                        "The edge cannot confirm recent revocations right now; try again."
                            .to_string()
                    }
                };
                Problem::unavailable(reason, retry_after, detail)
            }
        }
    }

    // --- Requests the edge cannot take (before or around the decision) ---------------------

    /// 400: the runtime's request (method, URL, headers) could not be read.
    #[must_use]
    pub fn unreadable_request() -> Self {
        Problem::new(
            400,
            "Invalid request",
            Reason::BadRequest,
            "The request cannot be read.",
        )
    }

    /// 400: the request URL could not be parsed.
    #[must_use]
    pub fn unparsable_url() -> Self {
        Problem::new(
            400,
            "Invalid request",
            Reason::BadUrl,
            "The request URL cannot be parsed.",
        )
    }

    /// 400: a path that cannot be made canonical (see README *Paths*).
    #[must_use]
    pub fn bad_path(error: crate::route::PathError) -> Self {
        Problem::new(400, "Invalid request path", error.reason(), error.detail())
    }

    /// 400: the path would match another route if letter case were ignored, as some origins
    /// route (see [`crate::route::RouteTable::find_unambiguous`]).
    #[must_use]
    pub fn path_case_ambiguous() -> Self {
        Problem::new(
            400,
            "Invalid request path",
            Reason::PathCaseAmbiguous,
            "The request path matches a different route when letter case is ignored.",
        )
    }

    /// 400: a method with a lower-case letter, which origins may read as its upper-case form
    /// (`patch` as `PATCH`) after the routes matched it as another method.
    #[must_use]
    pub fn method_not_uppercase() -> Self {
        Problem::new(
            400,
            "Invalid request method",
            Reason::MethodNotUppercase,
            "The request method must be upper case (\"PATCH\", not \"patch\").",
        )
    }

    /// 400: the query names a method override (`?_method=DELETE`), which Symfony, Laravel and
    /// others obey: the origin would run another method than the routes checked.
    #[must_use]
    pub fn method_override_in_query() -> Self {
        Problem::new(
            400,
            "Invalid request",
            Reason::MethodOverrideInQuery,
            "The query must not name a method override (\"_method\"): send the request with the method itself.",
        )
    }

    /// 403: no route allows this method and path.
    #[must_use]
    pub fn no_route() -> Self {
        Problem::new(
            403,
            "Forbidden",
            Reason::NoRoute,
            "No route allows this request.",
        )
    }

    /// 421: a host not in `hosts`.
    #[must_use]
    pub fn host_not_allowed() -> Self {
        Problem::new(
            421,
            "Misdirected request",
            Reason::HostNotAllowed,
            "This edge does not serve this host.",
        )
    }

    /// 508: the request came back to the edge that forwarded it.
    #[must_use]
    pub fn forwarding_loop() -> Self {
        Problem::new(
            508,
            "Loop detected",
            Reason::ForwardingLoop,
            "The request came back to the edge that forwarded it: check `origin`.",
        )
    }

    /// 500: route mode on a host with no origin behind the edge.
    #[must_use]
    pub fn route_mode_without_origin() -> Self {
        Problem::new(
            500,
            "Configuration error",
            Reason::RouteModeWithoutOrigin,
            "No `origin` is configured and this host has no origin behind the edge: set `origin`.",
        )
    }

    /// 500 `config_invalid`: every request while the config is invalid (nothing is forwarded).
    /// The body never says which field: the operator's log does.
    #[must_use]
    pub fn config_invalid() -> Self {
        Problem::new(
            500,
            "Configuration error",
            Reason::ConfigInvalid,
            "The edge is misconfigured; the operator's log names the field.",
        )
    }

    /// 500: the authority (the `AUTH_STATE` object) has an invalid configuration.
    #[must_use]
    pub fn authority_config_invalid() -> Self {
        Problem::new(
            500,
            "Configuration error",
            Reason::ConfigInvalid,
            "The authority's configuration is invalid.",
        )
    }

    /// 400: a call to the authority that is not one.
    #[must_use]
    pub fn bad_authority_call() -> Self {
        Problem::new(
            400,
            "Invalid request",
            Reason::BadCall,
            "Not an authority call.",
        )
    }

    /// 500: the assertion could not be signed; nothing was forwarded.
    #[must_use]
    pub fn assertion_unavailable() -> Self {
        Problem::new(
            500,
            "Internal error",
            Reason::AssertionUnavailable,
            "The edge could not sign its assertion; nothing was forwarded.",
        )
    }

    /// 502: the origin could not be reached.
    #[must_use]
    pub fn origin_unreachable() -> Self {
        Problem::new(
            502,
            "Bad gateway",
            Reason::OriginUnreachable,
            "The origin could not be reached.",
        )
    }

    // --- The admin API -------------------------------------------------------------------------

    /// 404: the admin API is not enabled (no `ADMIN_TOKEN`, no admin scope).
    #[must_use]
    pub fn admin_disabled() -> Self {
        Problem::new(
            404,
            "Not found",
            Reason::AdminDisabled,
            "The admin API is not enabled (no ADMIN_TOKEN).",
        )
    }

    /// 400 `invalid_admin_request`: `detail` names the field and the rule.
    #[must_use]
    pub fn invalid_admin_request(detail: impl Into<String>) -> Self {
        Problem::new(400, "Invalid request", Reason::InvalidAdminRequest, detail)
    }

    /// 400: an admin request body for the key authority that is not UTF-8.
    #[must_use]
    pub fn admin_body_not_utf8() -> Self {
        Problem::invalid_admin_request("The body must be JSON (UTF-8).")
    }

    /// 400: an admin request body that could not be read.
    #[must_use]
    pub fn unreadable_body() -> Self {
        Problem::new(
            400,
            "Invalid request",
            Reason::BadBody,
            "The request body could not be read.",
        )
    }

    /// 413: an admin request body over the limit (declared or read).
    #[must_use]
    pub fn body_too_large() -> Self {
        Problem::new(
            413,
            "Payload too large",
            Reason::BodyTooLarge,
            "Request bodies are limited to 16 KiB.",
        )
    }

    /// 404: no such key (or not the caller's).
    #[must_use]
    pub fn no_such_key() -> Self {
        Problem::new(404, "Not found", Reason::NotFound, "No such key.")
    }

    /// 404: a path under the admin prefix that no endpoint serves.
    #[must_use]
    pub fn no_such_endpoint() -> Self {
        Problem::new(404, "Not found", Reason::NotFound, "No such endpoint.")
    }

    /// 403 `forbidden`: the caller may not use this endpoint (`detail` says why).
    #[must_use]
    pub fn forbidden(detail: &'static str) -> Self {
        Problem::new(403, "Forbidden", Reason::Forbidden, detail)
    }

    /// 405: the endpoint does not support this method.
    #[must_use]
    pub fn method_not_allowed() -> Self {
        Problem::new(
            405,
            "Method not allowed",
            Reason::MethodNotAllowed,
            "This endpoint does not support this method.",
        )
    }

    /// 403: a PAT asked for a scope its creator does not hold (`scope` is the caller's own
    /// request text, a validated scope token).
    #[must_use]
    pub fn scope_not_held(scope: &str) -> Self {
        Problem::new(
            403,
            "Scope not held",
            Reason::ScopeNotHeld,
            format!(
                "A PAT can only carry scopes its creator holds; \"{scope}\" is not one of them."
            ),
        )
    }

    /// 409: the principal already holds `cap` active PATs.
    #[must_use]
    pub fn pat_limit_reached(cap: usize) -> Self {
        Problem::new(
            409,
            "Too many PATs",
            Reason::PatLimitReached,
            format!("A principal may hold at most {cap} active PATs: revoke one first."),
        )
    }

    /// 429: the principal created `keys.pat_max_created_per_hour` PATs within the hour.
    #[must_use]
    pub fn pat_creation_rate(per_hour: usize, retry_after: u64) -> Self {
        Problem {
            retry_after: Some(retry_after),
            error: Some("rate_limited"),
            ..Problem::new(
                429,
                "Too many new PATs",
                Reason::PatCreationRate,
                format!("A principal may create at most {per_hour} PATs an hour: retry later."),
            )
        }
    }

    /// 409: an imported key's `id` belongs to another key; nothing was imported.
    #[must_use]
    pub fn id_taken(index: usize) -> Self {
        Problem::new(
            409,
            "Conflict",
            Reason::IdTaken,
            format!("\"keys[{index}].id\" is already the id of another key; nothing was imported."),
        )
    }

    /// 409: only an active key can be rolled.
    #[must_use]
    pub fn not_active() -> Self {
        Problem::new(
            409,
            "Conflict",
            Reason::NotActive,
            "Only an active key can be rolled.",
        )
    }

    /// 409: the key was rolled already (`successor` replaces it).
    #[must_use]
    pub fn already_rolled(successor: &str) -> Self {
        Problem::new(
            409,
            "Conflict",
            Reason::NotActive,
            format!("This key was already rolled: {successor} replaces it. Roll that one instead."),
        )
    }

    /// 500: the CSPRNG failed ([`crate::ports::NoEntropy`]): nothing random was made and nothing
    /// written.
    #[must_use]
    pub fn no_entropy() -> Self {
        Problem::new(
            500,
            "Internal error",
            Reason::NoEntropy,
            "The edge could not produce random bytes.",
        )
    }

    /// 502: a header the edge meant to add could not be sent
    /// ([`crate::headers::Unsendable`]): nothing is forwarded.
    #[must_use]
    pub fn origin_request_invalid() -> Self {
        Problem::new(
            502,
            "Bad gateway",
            Reason::OriginRequestInvalid,
            "The request for the origin could not be built.",
        )
    }

    /// A limit's counter cannot be reached and it says `deny` (credits always do).
    #[must_use]
    pub fn limits_unavailable() -> Self {
        Problem::unavailable(
            Reason::LimitsUnavailable,
            1,
            "The edge cannot reach the counters of this API's limits right now; try again.",
        )
    }

    /// Limits or credits apply but `AUTH_STATE` is not bound: nothing could count them.
    #[must_use]
    pub fn limits_need_state() -> Self {
        Problem::new(
            500,
            "Configuration error",
            Reason::StateNotBound,
            "AUTH_STATE is not bound: rate limits and credits need the state tier (a Durable Object binding, see the README).",
        )
    }

    /// 429: this client address has failed to authenticate too often (the failed-auth budget,
    /// `src/failures.rs`); nothing was looked up.
    #[must_use]
    pub fn too_many_failures(retry_after: u64) -> Self {
        Problem {
            retry_after: Some(retry_after),
            error: Some("rate_limited"),
            ..Problem::new(
                429,
                "Too many failed attempts",
                Reason::TooManyFailures,
                "Too many failed authentication attempts from this address; retry later.",
            )
        }
    }

    /// 400 `invalid_request`.
    #[must_use]
    fn invalid_request(reason: Reason, detail: impl Into<String>) -> Self {
        Problem {
            challenge: Challenge::BearerError(BearerError::InvalidRequest),
            ..Problem::new(400, "Invalid request", reason, detail)
        }
    }

    /// 401 without an error attribute: the route needs a credential and none was sent.
    #[must_use]
    pub fn missing_credential() -> Self {
        Problem {
            challenge: Challenge::Bearer,
            ..Problem::new(
                401,
                "Authentication required",
                Reason::MissingCredential,
                MISSING_CREDENTIAL_DETAIL,
            )
        }
    }

    /// 401 like [`Problem::missing_credential`] (same reason code and bare challenge, RFC 6750
    /// §3.1), for an `Authorization` header with another scheme: the detail says which schemes
    /// are not supported. `basic` is true for `Basic`; other schemes are not named (the name is
    /// the client's text).
    #[must_use]
    pub fn unsupported_scheme(basic: bool) -> Self {
        let detail = if basic {
            "Basic authentication is not supported. Send a credential: Authorization: Bearer <token> or X-API-Key: <key>."
        } else {
            "This Authorization scheme is not supported. Send a credential: Authorization: Bearer <token> or X-API-Key: <key>."
        };
        Problem {
            detail: detail.to_string(),
            ..Problem::missing_credential()
        }
    }

    /// 500 `kv_not_bound`: the key store binding is absent, a configuration fault (no
    /// `Retry-After`: retrying cannot help). `binding` is the binding's name (`AUTH_KV`).
    #[must_use]
    pub fn kv_not_bound(binding: &str) -> Self {
        Problem::new(
            500,
            "Configuration error",
            Reason::KvNotBound,
            format!("{binding} is not bound: the edge cannot look up API keys or PATs. The operator must bind the KV namespace."),
        )
    }

    /// 503 `assets_not_bound`: `{admin_path}/openapi.json` is served from the static-assets
    /// binding, which this deployment lacks. 503, not 404: the path is right and the client did
    /// nothing wrong, so the answer is a server fault (5xx, which monitoring sees); not 500,
    /// because the configuration itself is valid and every other endpoint works. No
    /// `Retry-After`: retrying cannot help until the binding is added (as with `kv_not_bound`).
    #[must_use]
    pub fn assets_not_bound() -> Self {
        Problem::new(
            503,
            "Service unavailable",
            Reason::AssetsNotBound,
            "ASSETS is not bound: the OpenAPI document is served from the static-assets binding (wrangler.jsonc `assets`).",
        )
    }

    /// 503 `openapi_unavailable`: `ASSETS` is bound but did not answer with the document (a
    /// deployment whose assets directory is not this repository's `www/`). No `Retry-After`.
    #[must_use]
    pub fn openapi_unavailable() -> Self {
        Problem::new(
            503,
            "Service unavailable",
            Reason::OpenapiUnavailable,
            "The ASSETS binding did not serve openapi.json: deploy with this repository's assets directory (www/).",
        )
    }

    /// `AUTH_STATE` is not bound, and the endpoint needs the authority.
    #[must_use]
    pub fn state_not_bound() -> Self {
        Problem::new(
            500,
            "Configuration error",
            Reason::StateNotBound,
            "AUTH_STATE is not bound: principal and token revocation and the audit log need the state tier (a Durable Object binding, see the README).",
        )
    }

    /// The authority did not answer: nothing was written.
    #[must_use]
    pub fn state_unavailable() -> Self {
        Problem::unavailable(
            Reason::StateUnavailable,
            2,
            "The key authority is not answering; nothing was changed. Try again.",
        )
    }

    /// With the dev setting `debug.explain_rejections`: the reason code appended to `detail`.
    #[must_use]
    pub fn explained(mut self) -> Self {
        self.detail = format!("{} (reason: {})", self.detail, self.reason);
        self
    }

    /// 401 `invalid_token`.
    #[must_use]
    fn invalid_token(reason: Reason, detail: impl Into<String>) -> Self {
        Problem {
            challenge: Challenge::BearerError(BearerError::InvalidToken),
            ..Problem::new(401, "Invalid credential", reason, detail)
        }
    }

    /// 403 `insufficient_scope`, naming every required scope.
    #[must_use]
    pub fn insufficient_scope(required: &[String]) -> Self {
        Problem {
            challenge: Challenge::BearerError(BearerError::InsufficientScope),
            scope: Some(required.join(" ")),
            ..Problem::new(
                403,
                "Insufficient scope",
                Reason::InsufficientScope,
                "The credential lacks a scope this resource requires.",
            )
        }
    }

    /// 503 with `Retry-After`: a dependency (KV, JWKS) is down and nothing cached can decide.
    #[must_use]
    pub fn unavailable(reason: Reason, retry_after: u64, detail: impl Into<String>) -> Self {
        Problem {
            retry_after: Some(retry_after),
            ..Problem::new(503, "Temporarily unavailable", reason, detail)
        }
    }

    /// The `error` member: the RFC 6750 code when there is one.
    #[must_use]
    pub fn error_code(&self) -> Option<&'static str> {
        match self.challenge {
            Challenge::BearerError(e) => Some(e.as_str()),
            _ => self.error,
        }
    }

    /// The `WWW-Authenticate` value, if this rejection carries one.
    #[must_use]
    pub fn www_authenticate(&self, realm: &str) -> Option<String> {
        let realm = quote(realm);
        match self.challenge {
            Challenge::None => None,
            Challenge::Bearer => Some(format!("Bearer realm={realm}")),
            Challenge::BearerError(e) => {
                let mut value = format!("Bearer realm={realm}, error=\"{}\"", e.as_str());
                if let (BearerError::InsufficientScope, Some(scope)) = (e, &self.scope) {
                    value.push_str(&format!(", scope={}", quote(scope)));
                }
                Some(value)
            }
        }
    }

    /// The `application/problem+json` body.
    #[must_use]
    pub fn body(&self, request_id: &str) -> String {
        let body = Body {
            kind: "about:blank",
            title: self.title,
            status: self.status,
            detail: &self.detail,
            error: self.error_code(),
            request_id,
        };
        serde_json::to_string(&body).unwrap_or_else(|_| String::from("{}"))
    }
}

/// An RFC 7230 quoted-string. Realms and scopes are validated at config time, but escape anyway.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_credential_challenge_has_no_error_attribute() {
        let p = Problem::missing_credential();
        assert_eq!(p.status, 401);
        assert_eq!(
            p.www_authenticate("api").as_deref(),
            Some("Bearer realm=\"api\"")
        );
        assert!(!p.body("r1").contains("\"error\""));
    }

    #[test]
    fn every_rejection_keeps_its_reason_and_a_fault_is_exactly_a_401_invalid_token() {
        use crate::extract::Malformed;
        use crate::identity::CredentialKind;
        use crate::rejection::{CredentialRefusal, Dependency, Rejection};
        use crate::route::AcceptSet;
        let all = [
            Rejection::Malformed(Malformed::MultipleCredentials),
            Rejection::Malformed(Malformed::BadBearerSyntax),
            Rejection::Credential(CredentialRefusal::TooLarge),
            Rejection::Credential(CredentialRefusal::Unrecognised),
            Rejection::Credential(CredentialRefusal::JwtInApiKeyHeader),
            Rejection::Credential(CredentialRefusal::KindNotAccepted {
                kind: CredentialKind::Pat,
                accepted: AcceptSet::ALL,
            }),
            Rejection::Credential(CredentialRefusal::IssuerNotAccepted),
            Rejection::Token(Reason::Expired),
            Rejection::Key(Reason::BadChecksum),
            Rejection::Revoked(Reason::PrincipalRevoked),
            Rejection::BadAdminToken,
            Rejection::TooManyFailures { retry_after: 7 },
            Rejection::KvNotBound,
            Rejection::Unavailable {
                dependency: Dependency::KeyStore,
                reason: Reason::KvUnavailable,
                retry_after: 5,
            },
            Rejection::Unavailable {
                dependency: Dependency::Revocations,
                reason: Reason::RevocationsUnconfirmed,
                retry_after: 1,
            },
            Rejection::Unavailable {
                dependency: Dependency::IssuerKeys(None),
                reason: Reason::JwksTimeout,
                retry_after: 2,
            },
        ];
        for r in all {
            let p = Problem::from(r.clone());
            assert_eq!(p.reason, r.reason(), "{r:?}");
            // The failed-auth budget used to count "a 401 from verify_kind": the typed rule
            // says the same for everything but the route-fit refusals, which come before it.
            let fits_route = matches!(r, Rejection::Credential(_));
            assert_eq!(
                r.is_credential_fault(),
                p.status == 401 && !fits_route,
                "{r:?} → {}",
                p.status
            );
            if p.status == 503 {
                assert!(p.retry_after.is_some(), "{r:?}: a 503 says when to retry");
            }
            assert!(
                !p.body("rid").contains("eyJ"),
                "{r:?}: no token in the body"
            );
        }
    }

    #[test]
    fn jwt_failures_map_to_rfc6750_problems() {
        use crate::jwt::JwtFailure;
        let p = Problem::from(Rejection::from_jwt(
            JwtFailure::Invalid {
                reason: Reason::Expired,
            },
            None,
        ));
        assert_eq!((p.status, p.reason.as_str()), (401, "expired"));
        assert_eq!(p.error_code(), Some("invalid_token"));
        let down = JwtFailure::Unavailable {
            reason: Reason::JwksTimeout,
            retry_after: 4,
        };
        let p = Problem::from(Rejection::from_jwt(down, Some("https://idp.example")));
        assert_eq!(
            (p.status, p.retry_after, p.error_code()),
            (503, Some(4), None)
        );
        assert_eq!(
            p.detail,
            "The signing keys of issuer https://idp.example cannot be fetched right now."
        );
        let p = Problem::from(Rejection::from_jwt(down, None));
        assert_eq!(
            p.detail,
            "The token issuer's keys cannot be fetched right now."
        );
    }

    #[test]
    fn insufficient_scope_names_the_required_scopes() {
        let p = Problem::insufficient_scope(&["admin".into(), "write".into()]);
        assert_eq!(
            p.www_authenticate("api").as_deref(),
            Some("Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"admin write\"")
        );
        let body: serde_json::Value = serde_json::from_str(&p.body("abc")).unwrap();
        assert_eq!(body["status"], 403);
        assert_eq!(body["error"], "insufficient_scope");
        assert_eq!(body["request_id"], "abc");
        assert_eq!(body["type"], "about:blank");
    }

    #[test]
    fn unavailable_has_retry_after_and_no_challenge() {
        let p = Problem::unavailable(Reason::KvUnavailable, 5, "x");
        assert_eq!(p.status, 503);
        assert_eq!(p.retry_after, Some(5));
        assert_eq!(p.www_authenticate("api"), None);
    }

    #[test]
    fn realm_is_escaped() {
        let p = Problem::invalid_token(Reason::BadSignature, "x");
        assert_eq!(
            p.www_authenticate("a\"b\\c").as_deref(),
            Some("Bearer realm=\"a\\\"b\\\\c\", error=\"invalid_token\"")
        );
    }
}
