//! Every reason code the edge writes: in a problem (the log line's `reason`, and the `detail`'s
//! `(reason: …)` with `debug.explain_rejections`), in the health report's `problems[].reason`
//! and `last_error`, and in the log line of a request that was forwarded.
//!
//! Owns: the one list of codes, [`Reason`], with each code's wire spelling, the status it comes
//! with and what it means. The README's reason table is generated from this list and a test
//! (`tests/reasons.rs`) fails when the two differ, so a code cannot be added, renamed or removed
//! without the table following; `UPDATE_README=1 cargo test --test reasons` rewrites the table.
//! Never touches: problems' titles and details (`problem.rs`), the phase error types (each maps
//! its own variants to a `Reason` beside its definition).
//!
//! A typed code instead of `&'static str`: a misspelt reason does not compile, the set can be
//! enumerated ([`Reason::ALL`]), and no two variants may share a spelling (tested).

use serde::Serialize;

/// Declares [`Reason`] from a table of `Variant = "code", "status", "meaning";` rows, in groups.
macro_rules! reasons {
    ($( $group:literal { $( $variant:ident = $code:literal, $status:literal, $meaning:literal; )* } )*) => {
        /// A reason code (see the module header). Serialises as its code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Reason {
            $( $( #[doc = $meaning] $variant, )* )*
        }

        impl Reason {
            /// Every reason, in the README table's order.
            pub const ALL: &'static [Reason] = &[ $( $( Reason::$variant, )* )* ];

            /// The code as written on the wire (`bad_checksum`).
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $( $( Reason::$variant => $code, )* )* }
            }

            /// The status the code comes with (`401`), or where it appears when it is not a
            /// refusal (`forwarded`, `health`, `log`).
            #[must_use]
            pub const fn status(self) -> &'static str {
                match self { $( $( Reason::$variant => $status, )* )* }
            }

            /// What the code means, for the README table.
            #[must_use]
            pub const fn meaning(self) -> &'static str {
                match self { $( $( Reason::$variant => $meaning, )* )* }
            }

            /// The part of the pipeline that decides it (the README table's groups).
            #[must_use]
            pub const fn group(self) -> &'static str {
                match self { $( $( Reason::$variant => $group, )* )* }
            }
        }
    };
}

reasons! {
    "Forwarded (log line only)" {
        Public = "public", "forwarded", "A public route: no credential was needed.";
        Anonymous = "anonymous", "forwarded", "An `optional` route, and no credential was sent.";
        Authenticated = "authenticated", "forwarded", "The credential was verified and the route's scopes are held.";
        CorsPreflight = "cors_preflight", "forwarded", "A CORS preflight let through by the route's `cors_preflight`.";
        OwnEndpoint = "own_endpoint", "own", "Answered by the edge itself (health, the admin API, the console, the OpenAPI document).";
    }
    "The request" {
        BadRequest = "bad_request", "400", "The runtime's request (method, URL or headers) could not be read.";
        BadUrl = "bad_url", "400", "The request URL cannot be parsed.";
        PathNotAbsolute = "path_not_absolute", "400", "The path does not start with `/`.";
        PathBadEncoding = "path_bad_encoding", "400", "Invalid percent-encoding or UTF-8 in the path.";
        PathAmbiguous = "path_ambiguous", "400", "An encoded `/` or `\\`, or a control character, in the path.";
        PathParameters = "path_parameters", "400", "A `;` in a path segment (without `forward.matrix_parameters`).";
        PathParametersWithoutName = "path_parameters_without_name", "400", "A path segment that is only path parameters (`/a/;x/b`, with `forward.matrix_parameters`).";
        PathEncodedPercent = "path_encoded_percent", "400", "`%25` (an encoded `%`) in the path.";
        PathTrailingDotOrSpace = "path_trailing_dot_or_space", "400", "A path segment ending in `.` or a space.";
        PathTooLong = "path_too_long", "400", "The path is longer than the edge accepts.";
        PathCaseAmbiguous = "path_case_ambiguous", "400", "The path matches a different route when letter case is ignored.";
        MethodNotUppercase = "method_not_uppercase", "400", "The method has a lower-case letter (`patch`): origins disagree on whether it is `PATCH`.";
        MethodOverrideInQuery = "method_override_in_query", "400", "The query names a method override (`_method`): an origin that reads it would run another method than the edge checked.";
        NoRoute = "no_route", "403", "No route allows this method and path.";
        HostNotAllowed = "host_not_allowed", "421", "The host is not one of `hosts`.";
        ForwardingLoop = "forwarding_loop", "508", "The request came back to the edge that forwarded it.";
        MethodNotAllowed = "method_not_allowed", "405", "An edge endpoint that does not take this method.";
        NotFound = "not_found", "404", "No such edge endpoint, or no such key on the admin API.";
        BadBody = "bad_body", "400", "The request body could not be read.";
        BodyTooLarge = "body_too_large", "413", "A body over the admin API's 16 KiB.";
    }
    "The credential as sent" {
        MissingCredential = "missing_credential", "401", "A protected route and no credential (or a non-Bearer `Authorization` scheme).";
        MultipleCredentials = "multiple_credentials", "400", "More than one credential (`Authorization` and `X-API-Key`, or either twice).";
        BadBearerSyntax = "bad_bearer_syntax", "400", "`Bearer` without a token, extra spaces, or characters outside RFC 6750's `b64token`.";
        BadApiKeyHeader = "bad_api_key_header", "400", "`X-API-Key` is empty or holds characters no key has.";
        CredentialTooLarge = "credential_too_large", "401", "The credential is over 16 KiB.";
        UnrecognisedCredential = "unrecognised_credential", "401", "Neither a JWT nor a key with a configured prefix.";
        JwtInApiKeyHeader = "jwt_in_api_key_header", "401", "A JWT sent in `X-API-Key` (JWTs go in `Authorization: Bearer`).";
        KindNotAccepted = "kind_not_accepted", "401", "The route's `accept` does not take this kind of credential.";
        IssuerNotAccepted = "issuer_not_accepted", "401", "The route's `issuers` does not take this credential's issuer.";
        InsufficientScope = "insufficient_scope", "403", "The credential lacks a scope the route requires.";
        TooManyFailures = "too_many_failures", "429", "This client address failed to authenticate too often (failed-authentication budget).";
    }
    "JWT structure (RFC 7515, RFC 8725)" {
        TokenTooLarge = "token_too_large", "401", "The JWT is larger than any this edge accepts.";
        MalformedToken = "malformed_token", "401", "Not three non-empty dot-separated segments.";
        EncryptedTokenUnsupported = "encrypted_token_unsupported", "401", "Five segments: a JWE, which the edge does not decrypt.";
        InvalidBase64url = "invalid_base64url", "401", "A segment is not canonical unpadded base64url.";
        MalformedHeader = "malformed_header", "401", "The JOSE header is not a JSON object of the expected types.";
        MalformedPayload = "malformed_payload", "401", "The payload is not a JSON object.";
        DuplicateMember = "duplicate_member", "401", "A JSON member name appears twice in the header or the payload.";
        AlgNone = "alg_none", "401", "`alg` is `none`, in any spelling.";
        AlgUnsupported = "alg_unsupported", "401", "`alg` is not a supported algorithm name.";
        CritUnsupported = "crit_unsupported", "401", "`crit` is present: no extension is understood.";
        EmbeddedKeyRejected = "embedded_key_rejected", "401", "`jwk`, `jku`, `x5u` or `x5c` is present.";
        NestedTokenUnsupported = "nested_token_unsupported", "401", "`cty` is present: nested tokens are refused.";
        TypNotAllowed = "typ_not_allowed", "401", "`typ` names a token for another purpose.";
        InvalidKid = "invalid_kid", "401", "`kid` is not a short string.";
    }
    "JWT key and signature" {
        UnknownKid = "unknown_kid", "401", "No key of the issuer's JWKS has this `kid` (after a rate-limited refetch).";
        AlgKeyMismatch = "alg_key_mismatch", "401", "The key's type or `alg` does not fit the token's `alg`.";
        KidRequired = "kid_required", "401", "No `kid`, and the issuer's JWKS holds more than one candidate key.";
        KeyRejected = "key_rejected", "401", "WebCrypto refused the issuer's key (bad point, unsupported size).";
        VerifierUnsupported = "verifier_unsupported", "401", "The runtime cannot verify this algorithm.";
        VerifierError = "verifier_error", "503", "WebCrypto failed; nothing is known about the signature.";
        BadSignature = "bad_signature", "401", "The signature does not verify.";
    }
    "JWT claims (the issuer's policy)" {
        MissingIss = "missing_iss", "401", "No `iss` claim.";
        InvalidIss = "invalid_iss", "401", "`iss` is not a string.";
        UnknownIssuer = "unknown_issuer", "401", "`iss` is not a configured issuer.";
        AlgNotAllowed = "alg_not_allowed", "401", "The issuer's `algorithms` do not include the token's `alg`.";
        MalformedSignature = "malformed_signature", "401", "A fixed-size signature of the wrong length, or an ECDSA `r`/`s` out of range.";
        MissingExp = "missing_exp", "401", "No `exp` claim.";
        InvalidExp = "invalid_exp", "401", "`exp` is not a NumericDate.";
        Expired = "expired", "401", "The JWT's `exp`, or the key's `expires_at`, has passed (beyond the leeway).";
        InvalidNbf = "invalid_nbf", "401", "`nbf` is not a NumericDate.";
        NotYetValid = "not_yet_valid", "401", "`nbf` is in the future (beyond the leeway).";
        InvalidIat = "invalid_iat", "401", "`iat` is not a NumericDate.";
        IatInFuture = "iat_in_future", "401", "`iat` is in the future (beyond the leeway).";
        MissingAud = "missing_aud", "401", "No `aud` claim, and the issuer requires one.";
        InvalidAud = "invalid_aud", "401", "`aud` is neither a string nor an array of strings.";
        AudienceMismatch = "audience_mismatch", "401", "No `aud` value is one the issuer's `audiences` lists.";
        MissingSub = "missing_sub", "401", "No `sub` claim.";
        InvalidSub = "invalid_sub", "401", "`sub` is not a string the edge can forward.";
        InvalidJti = "invalid_jti", "401", "The token's `jti` is not a string (it could not be revoked by its id).";
        InvalidScope = "invalid_scope", "401", "A scope claim is not a list of RFC 6749 scope tokens.";
        InvalidClientId = "invalid_client_id", "401", "The client id claim is not a string the edge can forward.";
        TokenTypeNotAccessToken = "token_type_not_access_token", "401", "The issuer requires RFC 9068 access tokens and `typ` is not `at+jwt`.";
        ClientIdNotAllowed = "client_id_not_allowed", "401", "No `aud`, and the client id is not one `accept_without_audience` lists.";
        RequiredClaimMissing = "required_claim_missing", "401", "A claim of the issuer's `required_claims` is absent.";
        RequiredClaimMismatch = "required_claim_mismatch", "401", "A claim of the issuer's `required_claims` has another value.";
    }
    "JWKS and discovery (problems and health)" {
        JwksUnavailable = "jwks_unavailable", "503", "The issuer's keys cannot be had and nothing cached decides.";
        JwksIssuerUnknown = "jwks_issuer_unknown", "503", "Keys were asked for an issuer that is not configured.";
        JwksNotConfigured = "jwks_not_configured", "503", "The issuer has neither `jwks_uri` nor `discovery`.";
        JwksFetchFailed = "jwks_fetch_failed", "503", "The JWKS fetch failed (network).";
        JwksHttpError = "jwks_http_error", "503", "The JWKS URL answered with a status other than 200.";
        JwksTimeout = "jwks_timeout", "503", "The JWKS fetch took longer than `jwks.fetch_timeout_ms`.";
        JwksTooLarge = "jwks_too_large", "503", "The JWKS is over the document cap.";
        JwksInvalid = "jwks_invalid", "503", "The JWKS is not a JSON key set.";
        JwksNoUsableKeys = "jwks_no_usable_keys", "503", "The JWKS holds no key the edge can use (counted as a failed fetch: keys held from before keep serving).";
        JwksCacheBusy = "jwks_cache_busy", "503", "The JWKS cache was in use (cannot happen; refused rather than guessed).";
        DiscoveryFetchFailed = "discovery_fetch_failed", "503", "The OpenID discovery fetch failed (network).";
        DiscoveryHttpError = "discovery_http_error", "503", "The discovery URL answered with a status other than 200.";
        DiscoveryTimeout = "discovery_timeout", "503", "The discovery fetch took longer than `jwks.fetch_timeout_ms`.";
        DiscoveryTooLarge = "discovery_too_large", "503", "The discovery document is over the document cap.";
        DiscoveryInvalid = "discovery_invalid", "503", "The discovery document is not a JSON object.";
        DiscoveryIssuerMismatch = "discovery_issuer_mismatch", "503", "The discovery document's `issuer` is not the configured issuer.";
        DiscoveryJwksUriInvalid = "discovery_jwks_uri_invalid", "503", "The discovery document's `jwks_uri` is missing or not an https URL.";
    }
    "API keys and PATs" {
        UnknownKeyPrefix = "unknown_key_prefix", "401", "The key's prefix is not a configured one.";
        BadKeyLength = "bad_key_length", "401", "The key has the wrong length for its format.";
        BadKeyAlphabet = "bad_key_alphabet", "401", "The key has characters outside base62.";
        BadChecksum = "bad_checksum", "401", "The key's checksum does not match: a typo or a forgery, refused without a KV read.";
        UnknownKey = "unknown_key", "401", "No record for this key's hash.";
        BadRecord = "bad_record", "401", "The key's record cannot be read (refused, never trusted).";
        Revoked = "revoked", "401", "The key's record says it is revoked.";
        KindMismatch = "kind_mismatch", "401", "An API key's record for a PAT, or the other way round.";
        PatWithoutIssuer = "pat_without_issuer", "401", "A PAT record without its issuer, with more than one issuer configured.";
        KvUnavailable = "kv_unavailable", "503", "Workers KV did not answer in time or answered with an error.";
        KvNotAnswering = "kv_not_answering", "health", "The health probe of Workers KV got no answer.";
        KvNotBound = "kv_not_bound", "500", "`AUTH_KV` is not bound.";
    }
    "The state tier (revocation)" {
        KeyRevoked = "key_revoked", "401", "The key was revoked at the authority (revocation view).";
        PrincipalRevoked = "principal_revoked", "401", "Every credential of this (issuer, subject) made before the revocation is revoked.";
        TokenRevoked = "token_revoked", "401", "This JWT (`jti`) was revoked.";
        RevocationsUnconfirmed = "revocations_unconfirmed", "503", "The revocation view is older than its bound (`on_stale: refuse`).";
        RevocationViewStale = "revocation_view_stale", "health", "The revocation view is older than its bound.";
        FeedUnreachable = "feed_unreachable", "health", "The revocation feed could not be fetched from `AUTH_STATE`.";
        FeedInvalid = "feed_invalid", "health", "The revocation feed's answer could not be read.";
        FeedTooLarge = "feed_too_large", "health", "The revocation feed's answer is over its cap.";
        StateUnavailable = "state_unavailable", "503", "The authority (`AUTH_STATE`) is not answering; nothing was changed.";
        StateNotBound = "state_not_bound", "500", "`AUTH_STATE` is not bound, and the request needs it.";
    }
    "Rate limits and credits" {
        LimitExceeded = "limit_exceeded", "429", "A rate limit is exhausted for its window.";
        CreditsExhausted = "credits_exhausted", "429", "The key has no usage credits left.";
        LimitsUnavailable = "limits_unavailable", "503", "A limit's counter cannot be reached and it says `deny` (credits always do).";
    }
    "The admin API" {
        AdminDisabled = "admin_disabled", "404", "No `ADMIN_TOKEN`: the admin API is off.";
        BadAdminToken = "bad_admin_token", "401", "The admin token is not valid.";
        InvalidAdminRequest = "invalid_admin_request", "400", "An admin body or query that breaks a rule (the detail names the field).";
        Forbidden = "forbidden", "403", "The caller may not do this (the detail says why).";
        ScopeNotHeld = "scope_not_held", "403", "A PAT may only carry scopes its creator holds.";
        PatLimitReached = "pat_limit_reached", "409", "The principal holds `keys.pat_max_active` active PATs.";
        PatCreationRate = "pat_creation_rate", "429", "The principal created `keys.pat_max_created_per_hour` PATs within the last hour (revoked ones count).";
        IdTaken = "id_taken", "409", "An imported key's id is already taken; nothing was imported.";
        NotActive = "not_active", "409", "Only an active key that was not rolled already can be rolled.";
        NoEntropy = "no_entropy", "500", "The CSPRNG could not fill a buffer; nothing was minted.";
    }
    "The edge itself" {
        ConfigInvalid = "config_invalid", "500", "`AUTH_CONFIG` is missing or invalid (the log names the field).";
        RouteModeWithoutOrigin = "route_mode_without_origin", "500", "No `origin` configured and no origin behind this route.";
        BadCall = "bad_call", "400", "A request to the authority object that is not an authority call.";
        AssertionUnavailable = "assertion_unavailable", "500", "The signed assertion could not be made; nothing was forwarded.";
        AssertionSigningFailed = "assertion_signing_failed", "log", "WebCrypto failed to sign the assertion.";
        OriginUnreachable = "origin_unreachable", "502", "The origin could not be reached.";
        OriginRequestInvalid = "origin_request_invalid", "502", "The request for the origin could not be built; nothing was forwarded.";
        AssetsNotBound = "assets_not_bound", "503", "`ASSETS` is not bound (the OpenAPI document and the console are served from it).";
        OpenapiUnavailable = "openapi_unavailable", "503", "`ASSETS` did not serve `openapi.json`.";
    }
}

impl Reason {
    /// The reason spelt `code`, if any.
    #[must_use]
    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.iter().copied().find(|r| r.as_str() == code)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Tests and callers compare a reason with its spelling: `assert_eq!(problem.reason, "expired")`.
impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<Reason> for &str {
    fn eq(&self, other: &Reason) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<str> for Reason {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// The README's reason table (between its `reasons` markers), generated from [`Reason::ALL`].
#[must_use]
pub fn readme_table() -> String {
    let mut out = String::new();
    let mut group = "";
    for r in Reason::ALL {
        if r.group() != group {
            group = r.group();
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!(
                "**{group}**\n\n| reason | status | meaning |\n|---|---|---|\n"
            ));
        }
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            r.as_str(),
            r.status(),
            r.meaning()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_code_is_unique_and_snake_case() {
        let mut seen = HashSet::new();
        for r in Reason::ALL {
            let code = r.as_str();
            assert!(seen.insert(code), "{code} is spelt twice");
            assert!(
                !code.is_empty()
                    && code
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{code} is not snake_case"
            );
            assert_eq!(Reason::from_code(code), Some(*r));
            assert!(!r.meaning().is_empty() && !r.meaning().contains('|'));
        }
    }

    #[test]
    fn statuses_are_http_codes_or_a_place() {
        for r in Reason::ALL {
            let s = r.status();
            let http = s.len() == 3 && s.parse::<u16>().is_ok_and(|n| (400..600).contains(&n));
            assert!(
                http || ["forwarded", "own", "health", "log"].contains(&s),
                "{r}: {s}"
            );
        }
    }

    #[test]
    fn serialises_and_compares_as_its_code() {
        assert_eq!(
            serde_json::to_string(&Reason::BadChecksum).unwrap(),
            "\"bad_checksum\""
        );
        assert_eq!(Reason::Expired, "expired");
        assert_eq!("expired", Reason::Expired);
        assert_eq!(Reason::from_code("no_such_reason"), None);
    }
}
