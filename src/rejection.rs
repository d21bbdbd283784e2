//! Why a credential was refused, typed from the authenticators up to the one conversion to the
//! wire ([`crate::problem::Problem`]'s `From<Rejection>`, in `problem.rs`).
//!
//! Owns: [`Rejection`], the error of the authentication step (the request pipeline's `verify`
//! and the admin caller's resolution), which wraps what each phase found: extraction
//! ([`Malformed`]), the credential's fit to the route ([`CredentialRefusal`]), a JWT's phases
//! (structure, key choice, signature, policy: carried as their [`Reason`]), a key's format and
//! record, a revocation, the failed-authentication budget, and a dependency that cannot answer
//! ([`Rejection::Unavailable`]). Which of these count against the failed-authentication budget
//! is decided here, by type ([`Rejection::is_credential_fault`]), not by reading a status back.
//!
//! Never touches: statuses, titles and details (`problem.rs` has them all), a credential (no
//! variant can hold one: the configured issuer named by an unavailable JWKS is the config's
//! string, never a token's).

use crate::extract::Malformed;
use crate::identity::CredentialKind;
use crate::reason::Reason;
use crate::route::AcceptSet;

/// What an authenticator (JWT or key) answers when it does not accept a credential: one type for
/// both, so the pipeline and the admin API treat them alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// 401 `invalid_token`: the credential is at fault.
    Invalid { reason: Reason },
    /// 503 with `Retry-After: retry_after` seconds: what decides cannot be had right now.
    Unavailable { reason: Reason, retry_after: u64 },
    /// The key store is not bound at all: 500 `kv_not_bound`, a configuration fault (never a
    /// JWT's).
    NotBound,
}

impl AuthFailure {
    /// The reason code.
    #[must_use]
    pub fn reason(&self) -> Reason {
        match self {
            AuthFailure::Invalid { reason } | AuthFailure::Unavailable { reason, .. } => *reason,
            AuthFailure::NotBound => Reason::KvNotBound,
        }
    }
}

/// A credential that is well-formed but does not fit this edge or route (401 `invalid_token`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialRefusal {
    /// Over 16 KiB.
    TooLarge,
    /// Neither a JWT nor a key with a configured prefix.
    Unrecognised,
    /// A JWT in `X-API-Key`.
    JwtInApiKeyHeader,
    /// The route's `accept` does not take `kind`.
    KindNotAccepted {
        kind: CredentialKind,
        accepted: AcceptSet,
    },
    /// The route's `issuers` does not take the credential's issuer.
    IssuerNotAccepted,
}

impl CredentialRefusal {
    #[must_use]
    pub fn reason(self) -> Reason {
        match self {
            CredentialRefusal::TooLarge => Reason::CredentialTooLarge,
            CredentialRefusal::Unrecognised => Reason::UnrecognisedCredential,
            CredentialRefusal::JwtInApiKeyHeader => Reason::JwtInApiKeyHeader,
            CredentialRefusal::KindNotAccepted { .. } => Reason::KindNotAccepted,
            CredentialRefusal::IssuerNotAccepted => Reason::IssuerNotAccepted,
        }
    }
}

/// What could not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dependency {
    /// A JWT issuer's keys; the configured `issuer` when the token named one (never its URL).
    IssuerKeys(Option<String>),
    /// The key store (Workers KV) or the authority behind it.
    KeyStore,
    /// The revocation view is older than its bound.
    Revocations,
}

/// Why the authentication step refused a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// 400 `invalid_request`: the credential headers are malformed.
    Malformed(Malformed),
    /// 401: the credential does not fit the edge or the route.
    Credential(CredentialRefusal),
    /// 401: a JWT failed a phase (structure, key choice, signature or policy).
    Token(Reason),
    /// 401: an API key or PAT failed its format check or its record.
    Key(Reason),
    /// 401: the revocation view revokes the credential.
    Revoked(Reason),
    /// 401: a wrong admin token.
    BadAdminToken,
    /// 429: this address failed too often (retry after this many seconds).
    TooManyFailures { retry_after: u64 },
    /// 503: a dependency cannot answer and nothing cached decides.
    Unavailable {
        dependency: Dependency,
        reason: Reason,
        retry_after: u64,
    },
    /// 500: `AUTH_KV` is not bound.
    KvNotBound,
}

impl Rejection {
    /// A JWT authenticator's failure; `issuer` is the configured issuer the token named, if any.
    #[must_use]
    pub fn from_jwt(failure: AuthFailure, issuer: Option<&str>) -> Self {
        match failure {
            AuthFailure::Invalid { reason } => Rejection::Token(reason),
            AuthFailure::NotBound => Rejection::KvNotBound,
            AuthFailure::Unavailable {
                reason,
                retry_after,
            } => Rejection::Unavailable {
                dependency: Dependency::IssuerKeys(issuer.map(str::to_string)),
                reason,
                retry_after,
            },
        }
    }

    /// A key authenticator's failure.
    #[must_use]
    pub fn from_key(failure: AuthFailure) -> Self {
        match failure {
            AuthFailure::Invalid { reason } => Rejection::Key(reason),
            AuthFailure::NotBound => Rejection::KvNotBound,
            AuthFailure::Unavailable {
                reason,
                retry_after,
            } => Rejection::Unavailable {
                dependency: Dependency::KeyStore,
                reason,
                retry_after,
            },
        }
    }

    /// The credential itself was at fault, after it was looked at: what the failed-authentication
    /// budget counts. A dependency that cannot answer, a missing binding or the budget's own
    /// refusal are not the client's failures; a credential the route does not take was refused
    /// before any lookup and costs nothing.
    #[must_use]
    pub fn is_credential_fault(&self) -> bool {
        matches!(
            self,
            Rejection::Token(_)
                | Rejection::Key(_)
                | Rejection::Revoked(_)
                | Rejection::BadAdminToken
        )
    }

    /// The reason code.
    #[must_use]
    pub fn reason(&self) -> Reason {
        match self {
            Rejection::Malformed(m) => m.reason(),
            Rejection::Credential(c) => c.reason(),
            Rejection::Token(r) | Rejection::Key(r) | Rejection::Revoked(r) => *r,
            Rejection::BadAdminToken => Reason::BadAdminToken,
            Rejection::TooManyFailures { .. } => Reason::TooManyFailures,
            Rejection::Unavailable { reason, .. } => *reason,
            Rejection::KvNotBound => Reason::KvNotBound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_credential_that_was_looked_at_is_a_fault() {
        let faults = [
            Rejection::Token(Reason::Expired),
            Rejection::Key(Reason::BadChecksum),
            Rejection::Revoked(Reason::KeyRevoked),
            Rejection::BadAdminToken,
        ];
        assert!(faults.iter().all(Rejection::is_credential_fault));
        let not = [
            Rejection::Malformed(Malformed::MultipleCredentials),
            Rejection::Credential(CredentialRefusal::Unrecognised),
            Rejection::TooManyFailures { retry_after: 3 },
            Rejection::KvNotBound,
            Rejection::Unavailable {
                dependency: Dependency::KeyStore,
                reason: Reason::KvUnavailable,
                retry_after: 5,
            },
        ];
        assert!(!not.iter().any(Rejection::is_credential_fault));
    }

    #[test]
    fn phase_failures_keep_their_reason() {
        let r = Rejection::from_jwt(
            AuthFailure::Unavailable {
                reason: Reason::JwksTimeout,
                retry_after: 1,
            },
            Some("https://issuer.example"),
        );
        assert_eq!(r.reason(), Reason::JwksTimeout);
        assert_eq!(
            r,
            Rejection::Unavailable {
                dependency: Dependency::IssuerKeys(Some("https://issuer.example".into())),
                reason: Reason::JwksTimeout,
                retry_after: 1
            }
        );
        assert_eq!(
            Rejection::from_key(AuthFailure::NotBound).reason(),
            Reason::KvNotBound
        );
        assert_eq!(
            Rejection::from_key(AuthFailure::Invalid {
                reason: Reason::UnknownKey
            }),
            Rejection::Key(Reason::UnknownKey)
        );
    }
}
