//! `AUTH_CONFIG` → validated [`Config`]. Parsed once per isolate by the adapter; every rule that
//! can be checked without I/O is checked here, and an error names the field and the rule.
//! Unknown fields are errors: a typo must never silently weaken policy. No env, no clock: secret
//! values come in through a lookup function.

use serde::Deserialize;
use url::Url;

use crate::assertion::AssertionSigner;
use crate::jwt::{IssuerPolicy, Issuers, JwksSettings, RawIssuer, RawJwksSettings};
use crate::keycache::{KeySettings, RawKeySettings};
use crate::route::{is_scope_token, NormalizedPath, RawRoute, RouteTable};

/// A configuration error: which field, and which rule it breaks. Never holds a secret value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// A path such as `issuers[0].jwks_uri`, or `AUTH_CONFIG` for the document as a whole.
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

fn error(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// `AUTH_CONFIG` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub realm: Option<String>,
    #[serde(default)]
    pub admin_path: Option<String>,
    #[serde(default)]
    pub admin_scope: Option<String>,
    #[serde(default)]
    pub issuers: Vec<RawIssuer>,
    pub routes: Vec<RawRoute>,
    #[serde(default)]
    pub keys: Option<RawKeySettings>,
    #[serde(default)]
    pub jwks: Option<RawJwksSettings>,
    #[serde(default)]
    pub forward: Option<RawForward>,
    #[serde(default)]
    pub assertion: Option<RawAssertion>,
}

/// `forward`: what beyond the identity headers reaches the origin.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForward {
    /// Forward the verified JWT payload as base64url JSON in `X-Auth-Claims`.
    #[serde(default)]
    pub claims: Option<bool>,
    #[serde(default)]
    pub claims_max_bytes: Option<usize>,
}

/// `assertion`: the `X-Auth-Assertion` the edge signs for the origin.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAssertion {
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub audience: Option<String>,
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
    /// Public JWKs of previous signing keys, still published during a rotation.
    #[serde(default)]
    pub previous_keys: Vec<serde_json::Value>,
}

/// Claims forwarding settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardSettings {
    pub claims: bool,
    pub claims_max_bytes: usize,
}

/// Assertion settings (the key itself is a secret, handled by the adapter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssertionSettings {
    /// `iss`; `None` means the Worker's own origin (known only per request).
    pub issuer: Option<String>,
    /// `aud`; `None` means the forwarding target's origin.
    pub audience: Option<String>,
    pub ttl_seconds: u64,
    pub previous_keys: Vec<serde_json::Value>,
}

/// The validated configuration. Cannot hold an invalid state.
#[derive(Debug)]
pub struct Config {
    /// Where to forward; `None`: to the request's own URL (route mode).
    pub origin: Option<Origin>,
    pub realm: String,
    /// Normalised, e.g. `/_auth`.
    pub admin_path: NormalizedPath,
    pub admin_path_text: String,
    /// A JWT scope that grants the admin API, if any.
    pub admin_scope: Option<String>,
    pub issuers: Issuers,
    pub routes: RouteTable,
    pub keys: KeySettings,
    pub jwks: JwksSettings,
    pub forward: ForwardSettings,
    pub assertion: AssertionSettings,
    /// Signs `X-Auth-Assertion`; `None` when `ASSERTION_KEY` is not set.
    pub assertion_signer: Option<AssertionSigner>,
}

const DEFAULT_REALM: &str = "api";
const DEFAULT_ADMIN_PATH: &str = "/_auth";

impl Config {
    /// Parse `AUTH_CONFIG` text. `secret(name)` returns the value of a secret binding.
    pub fn from_json(
        text: &str,
        secret: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let deserializer = &mut serde_json::Deserializer::from_str(text);
        let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "AUTH_CONFIG".to_string()
            } else {
                path
            };
            error(field, e.into_inner().to_string())
        })?;
        Config::from_raw(raw, secret)
    }

    pub fn from_raw(
        raw: RawConfig,
        secret: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let origin = raw.origin.as_deref().map(parse_origin).transpose()?;

        let realm = raw.realm.unwrap_or_else(|| DEFAULT_REALM.to_string());
        if realm.is_empty()
            || realm.len() > 128
            || !realm
                .bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        {
            return Err(error(
                "realm",
                "must be 1-128 printable ASCII characters without quotes or backslashes",
            ));
        }

        let admin_path_text = raw
            .admin_path
            .unwrap_or_else(|| DEFAULT_ADMIN_PATH.to_string());
        let admin_path = parse_admin_path(&admin_path_text)?;

        if let Some(scope) = &raw.admin_scope {
            if !is_scope_token(scope) {
                return Err(error("admin_scope", "must be a single scope token"));
            }
        }

        let mut policies = Vec::with_capacity(raw.issuers.len());
        for (index, issuer) in raw.issuers.into_iter().enumerate() {
            let policy = IssuerPolicy::from_raw(issuer, index, secret)
                .map_err(|e| error(e.field, e.reason))?;
            policies.push(policy);
        }
        let issuers = Issuers::new(policies).map_err(|e| error(e.field, e.reason))?;

        if raw.routes.is_empty() {
            return Err(error(
                "routes",
                "at least one route is required (without routes every request is refused)",
            ));
        }
        let routes = RouteTable::from_raw(raw.routes).map_err(|e| error(e.field, e.reason))?;

        let keys = KeySettings::from_raw(raw.keys.unwrap_or_default())
            .map_err(|e| error(e.field, e.reason))?;
        let jwks = JwksSettings::from_raw(raw.jwks.unwrap_or_default())
            .map_err(|e| error(e.field, e.reason))?;

        let forward_raw = raw.forward.unwrap_or_default();
        let forward = ForwardSettings {
            claims: forward_raw.claims.unwrap_or(false),
            claims_max_bytes: forward_raw.claims_max_bytes.unwrap_or(4096),
        };
        if !(256..=16384).contains(&forward.claims_max_bytes) {
            return Err(error(
                "forward.claims_max_bytes",
                "must be between 256 and 16384",
            ));
        }

        let assertion_raw = raw.assertion.unwrap_or_default();
        let assertion = AssertionSettings {
            issuer: assertion_raw.issuer,
            audience: assertion_raw.audience,
            ttl_seconds: assertion_raw.ttl_seconds.unwrap_or(60),
            previous_keys: assertion_raw.previous_keys,
        };
        if !(5..=3600).contains(&assertion.ttl_seconds) {
            return Err(error("assertion.ttl_seconds", "must be between 5 and 3600"));
        }
        for (field, value) in [
            ("assertion.issuer", &assertion.issuer),
            ("assertion.audience", &assertion.audience),
        ] {
            if value
                .as_deref()
                .is_some_and(|v| v.is_empty() || v.len() > 512)
            {
                return Err(error(field, "must be 1-512 characters"));
            }
        }

        // Without ASSERTION_KEY the edge runs without assertions; a malformed one is an error.
        let assertion_signer = match secret("ASSERTION_KEY") {
            None => None,
            Some(text) => Some(
                AssertionSigner::from_secret(&text, &assertion.previous_keys)
                    .map_err(|e| error("ASSERTION_KEY", e.0))?,
            ),
        };

        Ok(Config {
            assertion_signer,
            origin,
            realm,
            admin_path,
            admin_path_text,
            admin_scope: raw.admin_scope,
            issuers,
            routes,
            keys,
            jwks,
            forward,
            assertion,
        })
    }
}

/// An upstream origin, `scheme://host[:port]` as its ASCII serialisation (no trailing slash):
/// the request's path and query are appended to it as they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn parse_origin(text: &str) -> Result<Origin, ConfigError> {
    let url = Url::parse(text).map_err(|_| error("origin", "must be an absolute http(s) URL"))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(error("origin", "must use http or https"));
    }
    if url.host().is_none() {
        return Err(error("origin", "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(error("origin", "must not carry credentials"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(error("origin", "must be scheme, host and port only (no path, query or fragment): the request's path is appended as is"));
    }
    Ok(Origin(url.origin().ascii_serialization()))
}

fn parse_admin_path(text: &str) -> Result<NormalizedPath, ConfigError> {
    let rule = "must be an absolute, normalised path such as \"/_auth\" (no trailing slash, wildcards, dot segments or percent-encoding)";
    let valid_chars = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'.'));
    let path = NormalizedPath::parse(text).map_err(|_| error("admin_path", rule))?;
    if !valid_chars || text.len() < 2 || text.ends_with('/') || path.as_string() != text {
        return Err(error("admin_path", rule));
    }
    Ok(path)
}
