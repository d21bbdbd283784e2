//! Issuer and JWKS settings: the serde shapes of `AUTH_CONFIG.issuers[]` (and the JWKS tuning
//! block) and their validation into policies the verifier can trust. No env, no clock, no I/O:
//! secret bindings are read through the `secret` callback the caller passes in.

use base64ct::{Base64UrlUnpadded, Encoding};
use core::fmt;
use std::net::IpAddr;

use serde::Deserialize;
use url::{Host, Url};

use super::alg::Algorithm;
use super::mapping::ClaimMapping;

/// One entry of `issuers[]`, as written in the configuration.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RawIssuer {
    pub issuer: String,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub discovery: Option<bool>,
    /// Required and non-empty, unless `accept_without_audience` is set (then it may be omitted).
    #[serde(default)]
    pub audiences: Option<Vec<String>>,
    pub algorithms: Vec<String>,
    #[serde(default)]
    pub leeway_seconds: Option<u64>,
    #[serde(default)]
    pub hs256_secret: Option<String>,
    // The mapping fields are read from JSON by [`super::mapping`] (see there for their shapes).
    /// Where scopes come from: claim paths; default `scope`, else `scp`.
    #[serde(default)]
    pub scope_claims: Option<Vec<serde_json::Value>>,
    /// Where the client id comes from, first present wins; default `client_id`, then `azp`.
    #[serde(default)]
    pub client_id_claims: Option<Vec<serde_json::Value>>,
    /// `"any"` (default) or `"at+jwt"` (RFC 9068).
    #[serde(default)]
    pub token_type: Option<String>,
    /// Claims that must hold exactly these strings (`{"token_use": "access"}`).
    #[serde(default)]
    pub required_claims: Option<serde_json::Value>,
    /// `{"client_ids": [...]}`: tokens without `aud` are accepted iff their client id is listed.
    #[serde(default)]
    pub accept_without_audience: Option<serde_json::Value>,
}

/// JWKS cache tuning, as written in the configuration; every field is optional.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RawJwksSettings {
    pub cache_ttl_seconds: u64,
    pub min_ttl_seconds: u64,
    pub max_ttl_seconds: u64,
    pub stale_if_error_seconds: u64,
    pub unknown_kid_cooldown_seconds: u64,
    pub fetch_timeout_ms: u64,
    pub verified_token_cache_entries: usize,
}

impl Default for RawJwksSettings {
    fn default() -> Self {
        RawJwksSettings {
            cache_ttl_seconds: 600,
            min_ttl_seconds: 60,
            max_ttl_seconds: 86_400,
            stale_if_error_seconds: 86_400,
            unknown_kid_cooldown_seconds: 30,
            fetch_timeout_ms: 3_000,
            verified_token_cache_entries: 1_024,
        }
    }
}

pub use crate::config::ConfigError;

/// Default clock-skew allowance for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY_SECONDS: u64 = 60;
/// Larger skews hide real expiry; refuse them.
pub const MAX_LEEWAY_SECONDS: u64 = 300;
/// HS256 keys shorter than the hash output are guessable (RFC 7518 §3.2).
pub const MIN_HS256_KEY_BYTES: usize = 32;

/// Where an issuer's signing keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// A fixed JWKS URL.
    JwksUri(String),
    /// OpenID Connect discovery: fetch this document, then its `jwks_uri`.
    Discovery(String),
}

/// The configured HS256 key. Debug output never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Hs256Secret(Vec<u8>);

impl Hs256Secret {
    /// The key bytes.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Hs256Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hs256Secret(..)")
    }
}

/// A validated issuer: everything the verifier needs to judge a token claiming this `iss`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuerPolicy {
    /// Exact, case-sensitive `iss` value.
    pub issuer: String,
    /// `None` only for an issuer whose sole algorithm is HS256 (it needs no JWKS).
    pub key_source: Option<KeySource>,
    /// Empty only when `audiences` was omitted with `accept_without_audience` (then every token
    /// that carries `aud` is refused).
    pub audiences: Vec<String>,
    /// The allow-list, in configuration order, without duplicates.
    pub algorithms: Vec<Algorithm>,
    pub leeway_seconds: u64,
    /// Present exactly when HS256 is allowed.
    pub hs256_secret: Option<Hs256Secret>,
    /// Scopes, client id, token type, required claims, tokens without `aud`.
    pub mapping: ClaimMapping,
}

impl IssuerPolicy {
    /// Validates `issuers[index]`. `secret(name)` returns the text of a secret binding.
    ///
    /// An issuer needs exactly one of `jwks_uri` and `"discovery": true`, except one that only
    /// allows HS256, which needs neither (a JWKS would never be consulted).
    pub fn from_raw(
        raw: RawIssuer,
        index: usize,
        secret: &dyn Fn(&str) -> Option<String>,
    ) -> Result<IssuerPolicy, ConfigError> {
        let field = |name: &str| format!("issuers[{index}].{name}");

        if raw.issuer.is_empty() {
            return Err(ConfigError::new(field("issuer"), "must not be empty"));
        }

        let mut algorithms = Vec::with_capacity(raw.algorithms.len());
        if raw.algorithms.is_empty() {
            return Err(ConfigError::new(field("algorithms"), "must not be empty"));
        }
        for (i, name) in raw.algorithms.iter().enumerate() {
            let Some(alg) = Algorithm::from_name(name) else {
                let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.as_str()).collect();
                return Err(ConfigError::new(
                    format!("issuers[{index}].algorithms[{i}]"),
                    format!(
                        "{name:?} is not an algorithm: must be one of {} (exact case)",
                        names.join(", ")
                    ),
                ));
            };
            if algorithms.contains(&alg) {
                return Err(ConfigError::new(
                    format!("issuers[{index}].algorithms[{i}]"),
                    "duplicate algorithm",
                ));
            }
            algorithms.push(alg);
        }
        let needs_jwks = algorithms.iter().any(|a| *a != Algorithm::Hs256);

        let key_source = match (raw.jwks_uri, raw.discovery) {
            (Some(_), Some(true)) => {
                return Err(ConfigError::new(
                    field("jwks_uri"),
                    "set either jwks_uri or \"discovery\": true, not both",
                ))
            }
            (Some(uri), _) => {
                check_fetch_url(&uri).map_err(|r| ConfigError::new(field("jwks_uri"), r))?;
                Some(KeySource::JwksUri(uri))
            }
            (None, Some(true)) => {
                check_fetch_url(&raw.issuer).map_err(|reason| {
                    ConfigError::new(
                        field("issuer"),
                        format!("with discovery, the issuer {reason}"),
                    )
                })?;
                Some(KeySource::Discovery(discovery_url(&raw.issuer)))
            }
            (None, _) if needs_jwks => {
                return Err(ConfigError::new(
                    field("jwks_uri"),
                    "one of jwks_uri or \"discovery\": true is required",
                ))
            }
            (None, _) => None,
        };

        let mapping = ClaimMapping::from_raw(
            raw.scope_claims.as_deref(),
            raw.client_id_claims.as_deref(),
            raw.token_type.as_deref(),
            raw.required_claims.as_ref(),
            raw.accept_without_audience.as_ref(),
        )
        .map_err(|e| ConfigError::new(field(&e.field), e.reason))?;

        let audiences = match (raw.audiences, &mapping.without_audience) {
            (Some(a), _) if a.is_empty() => {
                return Err(ConfigError::new(field("audiences"), "must not be empty"))
            }
            (Some(a), _) => a,
            (None, Some(_)) => Vec::new(),
            (None, None) => {
                return Err(ConfigError::new(
                    field("audiences"),
                    "is required (tokens without aud need an explicit accept_without_audience)",
                ))
            }
        };
        if let Some(i) = audiences.iter().position(String::is_empty) {
            return Err(ConfigError::new(
                format!("issuers[{index}].audiences[{i}]"),
                "must not be empty",
            ));
        }

        let leeway_seconds = raw.leeway_seconds.unwrap_or(DEFAULT_LEEWAY_SECONDS);
        if leeway_seconds > MAX_LEEWAY_SECONDS {
            return Err(ConfigError::new(
                field("leeway_seconds"),
                format!("must be at most {MAX_LEEWAY_SECONDS}"),
            ));
        }

        let allows_hs256 = algorithms.contains(&Algorithm::Hs256);
        let hs256_secret = match (raw.hs256_secret, allows_hs256) {
            (None, false) => None,
            (None, true) => {
                return Err(ConfigError::new(
                    field("hs256_secret"),
                    "HS256 is in algorithms, so hs256_secret must name a secret binding",
                ))
            }
            // The contract's own example names a secret without listing HS256: the allow-list
            // decides, so the secret is simply unused (HS256 stays refused).
            (Some(_), false) => None,
            (Some(name), true) => {
                if name.is_empty() {
                    return Err(ConfigError::new(field("hs256_secret"), "must not be empty"));
                }
                let Some(text) = secret(&name) else {
                    return Err(ConfigError::new(
                        field("hs256_secret"),
                        "the named secret binding is missing",
                    ));
                };
                Some(
                    parse_hs256_secret(&text)
                        .map_err(|r| ConfigError::new(field("hs256_secret"), r))?,
                )
            }
        };

        Ok(IssuerPolicy {
            issuer: raw.issuer,
            key_source,
            audiences,
            algorithms,
            leeway_seconds,
            hs256_secret,
            mapping,
        })
    }

    /// True when `alg` is on this issuer's allow-list.
    #[must_use]
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.algorithms.contains(&alg)
    }
}

/// The OpenID Connect discovery URL: a trailing `/` of the issuer is dropped before appending
/// (OpenID Connect Discovery 1.0 §4).
fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.strip_suffix('/').unwrap_or(issuer)
    )
}

/// Reads a secret binding's text as an HS256 key: an `oct` JWK (JSON) or plain UTF-8 bytes.
fn parse_hs256_secret(text: &str) -> Result<Hs256Secret, &'static str> {
    let bytes = if text.trim_start().starts_with('{') {
        let jwk: serde_json::Value =
            serde_json::from_str(text).map_err(|_| "the secret looks like JSON but is not")?;
        if jwk.get("kty").and_then(serde_json::Value::as_str) != Some("oct") {
            return Err("a JSON secret must be an oct JWK");
        }
        let k = jwk
            .get("k")
            .and_then(serde_json::Value::as_str)
            .ok_or("an oct JWK secret needs a string k")?;
        Base64UrlUnpadded::decode_vec(k).map_err(|_| "the oct JWK k is not base64url")?
    } else {
        text.as_bytes().to_vec()
    };
    if bytes.len() < MIN_HS256_KEY_BYTES {
        return Err("the secret must be at least 32 bytes");
    }
    Ok(Hs256Secret(bytes))
}

/// A URL the edge may fetch keys from: absolute `https`, or `http` to a loopback host (local
/// development and tests). Credentials in the URL and fragments are refused.
pub fn check_fetch_url(text: &str) -> Result<(), &'static str> {
    let url = Url::parse(text).map_err(|_| "must be an absolute URL")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials");
    }
    if url.fragment().is_some() {
        return Err("must not contain a fragment");
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if url.host().is_some_and(|h| is_loopback(&h)) => Ok(()),
        "http" => Err("must use https (http is allowed only for loopback hosts)"),
        _ => Err("must be an https URL"),
    }
}

/// True when `url`'s host is a loopback name or address (where plain http is acceptable).
#[must_use]
pub fn is_loopback_url(url: &url::Url) -> bool {
    url.host().is_some_and(|h| is_loopback(&h))
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// The issuers a token may claim, looked up by exact `iss`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Issuers {
    policies: Vec<IssuerPolicy>,
}

impl Issuers {
    /// Validates every `issuers[]` entry; two entries with the same `issuer` are an error.
    pub fn from_raw(
        raw: Vec<RawIssuer>,
        secret: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Issuers, ConfigError> {
        let policies = raw
            .into_iter()
            .enumerate()
            .map(|(i, r)| IssuerPolicy::from_raw(r, i, secret))
            .collect::<Result<Vec<_>, _>>()?;
        Issuers::new(policies)
    }

    /// Wraps validated policies, refusing duplicate issuers.
    pub fn new(policies: Vec<IssuerPolicy>) -> Result<Issuers, ConfigError> {
        for (i, p) in policies.iter().enumerate() {
            if policies.iter().take(i).any(|q| q.issuer == p.issuer) {
                return Err(ConfigError::new(
                    format!("issuers[{i}].issuer"),
                    "duplicate issuer",
                ));
            }
        }
        Ok(Issuers { policies })
    }

    /// The policy whose `issuer` equals `iss` byte for byte.
    #[must_use]
    pub fn get(&self, iss: &str) -> Option<&IssuerPolicy> {
        self.policies.iter().find(|p| p.issuer == iss)
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &IssuerPolicy> {
        self.policies.iter()
    }
}

/// Validated JWKS cache tuning.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwksSettings {
    /// TTL when the response has no usable `Cache-Control: max-age`.
    pub cache_ttl_seconds: u64,
    pub min_ttl_seconds: u64,
    pub max_ttl_seconds: u64,
    /// How long after going stale keys may still serve while refreshes fail.
    pub stale_if_error_seconds: u64,
    /// At most one refetch per issuer per this many seconds on unknown `kid`s.
    pub unknown_kid_cooldown_seconds: u64,
    /// Timeout the adapter applies to each fetch; also bounds the background-refresh mark.
    pub fetch_timeout_ms: u64,
    /// Capacity of the verified-token cache (0 disables it).
    pub verified_token_cache_entries: usize,
}

impl Default for JwksSettings {
    fn default() -> Self {
        // The defaults satisfy every rule of `from_raw`.
        let raw = RawJwksSettings::default();
        JwksSettings {
            cache_ttl_seconds: raw.cache_ttl_seconds,
            min_ttl_seconds: raw.min_ttl_seconds,
            max_ttl_seconds: raw.max_ttl_seconds,
            stale_if_error_seconds: raw.stale_if_error_seconds,
            unknown_kid_cooldown_seconds: raw.unknown_kid_cooldown_seconds,
            fetch_timeout_ms: raw.fetch_timeout_ms,
            verified_token_cache_entries: raw.verified_token_cache_entries,
        }
    }
}

/// Longest TTL or stale window accepted: a week.
const MAX_WINDOW_SECONDS: u64 = 7 * 86_400;

impl JwksSettings {
    /// Validates the tuning block (`field_prefix` is its path, e.g. `jwks`).
    pub fn from_raw(raw: RawJwksSettings) -> Result<JwksSettings, ConfigError> {
        Self::from_raw_at(raw, "jwks")
    }

    /// Like [`JwksSettings::from_raw`], naming fields under `prefix`.
    pub fn from_raw_at(raw: RawJwksSettings, prefix: &str) -> Result<JwksSettings, ConfigError> {
        let err = |name: &str, reason: &str| ConfigError::new(format!("{prefix}.{name}"), reason);
        if raw.min_ttl_seconds == 0 {
            return Err(err("min_ttl_seconds", "must be at least 1"));
        }
        if raw.max_ttl_seconds > MAX_WINDOW_SECONDS {
            return Err(err("max_ttl_seconds", "must be at most 604800 (7 days)"));
        }
        if raw.min_ttl_seconds > raw.max_ttl_seconds {
            return Err(err("min_ttl_seconds", "must not exceed max_ttl_seconds"));
        }
        if raw.cache_ttl_seconds < raw.min_ttl_seconds
            || raw.cache_ttl_seconds > raw.max_ttl_seconds
        {
            return Err(err(
                "cache_ttl_seconds",
                "must lie between min_ttl_seconds and max_ttl_seconds",
            ));
        }
        if raw.stale_if_error_seconds > MAX_WINDOW_SECONDS {
            return Err(err(
                "stale_if_error_seconds",
                "must be at most 604800 (7 days)",
            ));
        }
        if raw.unknown_kid_cooldown_seconds == 0 || raw.unknown_kid_cooldown_seconds > 3_600 {
            return Err(err(
                "unknown_kid_cooldown_seconds",
                "must be between 1 and 3600",
            ));
        }
        if raw.fetch_timeout_ms == 0 || raw.fetch_timeout_ms > 30_000 {
            return Err(err("fetch_timeout_ms", "must be between 1 and 30000"));
        }
        if raw.verified_token_cache_entries > 100_000 {
            return Err(err(
                "verified_token_cache_entries",
                "must be at most 100000",
            ));
        }
        Ok(JwksSettings {
            cache_ttl_seconds: raw.cache_ttl_seconds,
            min_ttl_seconds: raw.min_ttl_seconds,
            max_ttl_seconds: raw.max_ttl_seconds,
            stale_if_error_seconds: raw.stale_if_error_seconds,
            unknown_kid_cooldown_seconds: raw.unknown_kid_cooldown_seconds,
            fetch_timeout_ms: raw.fetch_timeout_ms,
            verified_token_cache_entries: raw.verified_token_cache_entries,
        })
    }

    /// The fetch timeout in whole seconds, rounded up (the cache's clock has 1 s resolution).
    #[must_use]
    pub fn fetch_timeout_seconds(&self) -> u64 {
        self.fetch_timeout_ms.div_ceil(1_000).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawIssuer {
        RawIssuer {
            issuer: "https://issuer.example".into(),
            jwks_uri: Some("https://issuer.example/jwks.json".into()),
            discovery: None,
            audiences: Some(vec!["https://api.example".into()]),
            algorithms: vec!["RS256".into()],
            leeway_seconds: None,
            hs256_secret: None,
            ..RawIssuer::default()
        }
    }

    fn no_secret(_: &str) -> Option<String> {
        None
    }

    fn check(r: RawIssuer) -> Result<IssuerPolicy, ConfigError> {
        IssuerPolicy::from_raw(r, 0, &no_secret)
    }

    fn field_of(r: RawIssuer) -> String {
        check(r).unwrap_err().field
    }

    #[test]
    fn accepts_the_contract_example_and_defaults_leeway() {
        let p = check(raw()).unwrap();
        assert_eq!(p.leeway_seconds, 60);
        assert_eq!(p.algorithms, vec![Algorithm::Rs256]);
        assert_eq!(
            p.key_source,
            Some(KeySource::JwksUri(
                "https://issuer.example/jwks.json".into()
            ))
        );
    }

    #[test]
    fn raw_issuer_rejects_unknown_fields() {
        let doc = r#"{"issuer":"x","audiences":["a"],"algorithms":["RS256"],"jwks":"y"}"#;
        assert!(serde_json::from_str::<RawIssuer>(doc).is_err());
    }

    #[test]
    fn issuer_and_key_source_rules() {
        assert_eq!(
            field_of(RawIssuer {
                issuer: String::new(),
                ..raw()
            }),
            "issuers[0].issuer"
        );
        assert_eq!(
            field_of(RawIssuer {
                jwks_uri: None,
                ..raw()
            }),
            "issuers[0].jwks_uri"
        );
        assert_eq!(
            field_of(RawIssuer {
                discovery: Some(true),
                ..raw()
            }),
            "issuers[0].jwks_uri"
        );
        assert_eq!(
            field_of(RawIssuer {
                jwks_uri: None,
                discovery: Some(false),
                ..raw()
            }),
            "issuers[0].jwks_uri"
        );
        let d = check(RawIssuer {
            jwks_uri: None,
            discovery: Some(true),
            ..raw()
        })
        .unwrap();
        assert_eq!(
            d.key_source,
            Some(KeySource::Discovery(
                "https://issuer.example/.well-known/openid-configuration".into()
            ))
        );
        let slash = check(RawIssuer {
            issuer: "https://issuer.example/tenant/".into(),
            jwks_uri: None,
            discovery: Some(true),
            ..raw()
        })
        .unwrap();
        assert_eq!(
            slash.key_source,
            Some(KeySource::Discovery(
                "https://issuer.example/tenant/.well-known/openid-configuration".into()
            ))
        );
        let e = check(RawIssuer {
            issuer: "http://issuer.example".into(),
            jwks_uri: None,
            discovery: Some(true),
            ..raw()
        })
        .unwrap_err();
        assert_eq!(e.field, "issuers[0].issuer");
    }

    #[test]
    fn fetch_urls_must_be_https_or_loopback_http() {
        for ok in [
            "https://issuer.example/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://127.9.9.9/jwks",
            "http://[::1]:9000/jwks",
            "http://localhost/jwks",
            "http://LOCALHOST:1/jwks",
        ] {
            assert_eq!(check_fetch_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://issuer.example/jwks",
            "http://10.0.0.1/jwks",
            "http://localhost.evil.example/jwks",
            "ftp://issuer.example/jwks",
            "/jwks.json",
            "jwks.json",
            "https://user:pw@issuer.example/jwks",
            "https://issuer.example/jwks#x",
            "file:///etc/passwd",
        ] {
            assert!(check_fetch_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn audiences_must_be_non_empty() {
        assert_eq!(
            field_of(RawIssuer {
                audiences: Some(vec![]),
                ..raw()
            }),
            "issuers[0].audiences"
        );
        assert_eq!(
            field_of(RawIssuer {
                audiences: Some(vec!["a".into(), String::new()]),
                ..raw()
            }),
            "issuers[0].audiences[1]"
        );
    }

    #[test]
    fn algorithms_are_an_exact_allow_list() {
        assert_eq!(
            field_of(RawIssuer {
                algorithms: vec![],
                ..raw()
            }),
            "issuers[0].algorithms"
        );
        for bad in ["none", "rs256", "HS384", "Ed25519"] {
            assert_eq!(
                field_of(RawIssuer {
                    algorithms: vec!["RS256".into(), bad.into()],
                    ..raw()
                }),
                "issuers[0].algorithms[1]",
                "{bad}"
            );
        }
        let e = check(RawIssuer {
            algorithms: vec!["RS256".into(), "RS256".into()],
            ..raw()
        })
        .unwrap_err();
        assert_eq!(e.reason, "duplicate algorithm");
    }

    #[test]
    fn leeway_is_bounded() {
        assert_eq!(
            check(RawIssuer {
                leeway_seconds: Some(300),
                ..raw()
            })
            .unwrap()
            .leeway_seconds,
            300
        );
        assert_eq!(
            field_of(RawIssuer {
                leeway_seconds: Some(301),
                ..raw()
            }),
            "issuers[0].leeway_seconds"
        );
    }

    #[test]
    fn hs256_needs_a_strong_named_secret() {
        let secret = |name: &str| -> Option<String> {
            match name {
                "PLAIN" => Some("0123456789abcdef0123456789abcdef".into()),
                "SHORT" => Some("too-short".into()),
                // 32 bytes of 0x01 as an oct JWK.
                "JWK" => Some(format!(
                    r#"{{"kty":"oct","k":"{}"}}"#,
                    Base64UrlUnpadded::encode_string(&[1u8; 32])
                )),
                "JWK_SHORT" => Some(format!(
                    r#"{{"kty":"oct","k":"{}"}}"#,
                    Base64UrlUnpadded::encode_string(&[1u8; 31])
                )),
                "JWK_RSA" => Some(r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#.into()),
                _ => None,
            }
        };
        let hs = |name: Option<&str>, algs: &[&str]| {
            IssuerPolicy::from_raw(
                RawIssuer {
                    hs256_secret: name.map(str::to_owned),
                    algorithms: algs.iter().map(|s| (*s).to_owned()).collect(),
                    ..raw()
                },
                3,
                &secret,
            )
        };
        let p = hs(Some("PLAIN"), &["HS256", "RS256"]).unwrap();
        assert_eq!(
            p.hs256_secret.as_ref().unwrap().bytes(),
            b"0123456789abcdef0123456789abcdef"
        );
        assert_eq!(format!("{:?}", p.hs256_secret), "Some(Hs256Secret(..))");
        assert_eq!(
            hs(Some("JWK"), &["HS256"])
                .unwrap()
                .hs256_secret
                .unwrap()
                .bytes(),
            &[1u8; 32]
        );
        for (name, algs) in [
            (Some("SHORT"), &["HS256"][..]),
            (Some("JWK_SHORT"), &["HS256"][..]),
            (Some("JWK_RSA"), &["HS256"][..]),
            (Some("MISSING"), &["HS256"][..]),
            (None, &["HS256"][..]),
        ] {
            let e = hs(name, algs).unwrap_err();
            assert_eq!(e.field, "issuers[3].hs256_secret", "{name:?}");
            assert!(
                !e.reason.contains("0123456789"),
                "the reason never echoes the secret"
            );
        }
    }

    #[test]
    fn a_secret_without_hs256_in_algorithms_is_unused() {
        let secret = |_: &str| -> Option<String> { panic!("the secret is not looked up") };
        let p = IssuerPolicy::from_raw(
            RawIssuer {
                hs256_secret: Some("NAME_OF_A_SECRET_BINDING".into()),
                ..raw()
            },
            0,
            &secret,
        )
        .unwrap();
        assert!(p.hs256_secret.is_none());
    }

    #[test]
    fn hs256_only_issuer_needs_no_jwks() {
        let secret = |_: &str| Some("0123456789abcdef0123456789abcdef".to_owned());
        let p = IssuerPolicy::from_raw(
            RawIssuer {
                jwks_uri: None,
                algorithms: vec!["HS256".into()],
                hs256_secret: Some("S".into()),
                ..raw()
            },
            0,
            &secret,
        )
        .unwrap();
        assert_eq!(p.key_source, None);
    }

    #[test]
    fn issuers_lookup_is_exact_and_unique() {
        let issuers = Issuers::from_raw(vec![raw()], &no_secret).unwrap();
        assert!(issuers.get("https://issuer.example").is_some());
        for near in [
            "https://issuer.example/",
            "https://ISSUER.example",
            "https://issuer.exampl",
            "",
        ] {
            assert!(issuers.get(near).is_none(), "{near}");
        }
        let e = Issuers::from_raw(vec![raw(), raw()], &no_secret).unwrap_err();
        assert_eq!(e.field, "issuers[1].issuer");
    }

    #[test]
    fn jwks_settings_defaults_and_rules() {
        let s = JwksSettings::from_raw(RawJwksSettings::default()).unwrap();
        assert_eq!(s, JwksSettings::default());
        assert_eq!(s.fetch_timeout_seconds(), 3);
        let parsed: RawJwksSettings = serde_json::from_str(r#"{"cache_ttl_seconds":120}"#).unwrap();
        assert_eq!(parsed.min_ttl_seconds, 60);
        assert!(serde_json::from_str::<RawJwksSettings>(r#"{"ttl":1}"#).is_err());
        let bad = |r: RawJwksSettings| JwksSettings::from_raw(r).unwrap_err().field;
        let d = RawJwksSettings::default;
        assert_eq!(
            bad(RawJwksSettings {
                cache_ttl_seconds: 10,
                ..d()
            }),
            "jwks.cache_ttl_seconds"
        );
        assert_eq!(
            bad(RawJwksSettings {
                min_ttl_seconds: 0,
                ..d()
            }),
            "jwks.min_ttl_seconds"
        );
        assert_eq!(
            bad(RawJwksSettings {
                min_ttl_seconds: 700,
                max_ttl_seconds: 600,
                ..d()
            }),
            "jwks.min_ttl_seconds"
        );
        assert_eq!(
            bad(RawJwksSettings {
                fetch_timeout_ms: 0,
                ..d()
            }),
            "jwks.fetch_timeout_ms"
        );
        assert_eq!(
            bad(RawJwksSettings {
                fetch_timeout_ms: 30_001,
                ..d()
            }),
            "jwks.fetch_timeout_ms"
        );
        assert_eq!(
            bad(RawJwksSettings {
                unknown_kid_cooldown_seconds: 0,
                ..d()
            }),
            "jwks.unknown_kid_cooldown_seconds"
        );
    }

    #[test]
    fn audiences_may_be_omitted_only_with_accept_without_audience() {
        let parse = |doc: &str| {
            let raw: RawIssuer = serde_json::from_str(doc).unwrap();
            check(raw)
        };
        let e = parse(r#"{"issuer":"https://i.example","jwks_uri":"https://i.example/j","algorithms":["RS256"]}"#)
            .unwrap_err();
        assert_eq!(e.field, "issuers[0].audiences");
        let p = parse(r#"{"issuer":"https://i.example","jwks_uri":"https://i.example/j","algorithms":["RS256"],"accept_without_audience":{"client_ids":["c"]}}"#)
            .unwrap();
        assert!(p.audiences.is_empty());
        assert_eq!(p.mapping.without_audience, Some(vec!["c".to_string()]));
        let e = parse(r#"{"issuer":"https://i.example","jwks_uri":"https://i.example/j","algorithms":["RS256"],"audiences":[],"accept_without_audience":{"client_ids":["c"]}}"#)
            .unwrap_err();
        assert_eq!(e.field, "issuers[0].audiences");
        let e = parse(r#"{"issuer":"https://i.example","jwks_uri":"https://i.example/j","algorithms":["RS256"],"audiences":["a"],"scope_claims":["a..b"]}"#)
            .unwrap_err();
        assert_eq!(e.field, "issuers[0].scope_claims[0]");
        let e = parse(r#"{"issuer":"https://i.example","jwks_uri":"https://i.example/j","algorithms":["RS256"],"audiences":["a"],"token_type":"id"}"#)
            .unwrap_err();
        assert_eq!(e.field, "issuers[0].token_type");
    }
}
