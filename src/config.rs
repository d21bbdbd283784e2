//! `AUTH_CONFIG` → validated [`Config`]. Parsed once per isolate by the adapter; every rule that
//! can be checked without I/O is checked here, and an error names the field and the rule.
//! Unknown fields are errors: a typo must never silently weaken policy. No env, no clock: secret
//! values come in through a lookup function.

use serde::Deserialize;
use url::Url;

use crate::assertion::AssertionSigner;
use crate::identity::is_scope_token;
use crate::jwt::{IssuerPolicy, Issuers, JwksSettings, RawIssuer, RawJwksSettings};
use crate::keys::{KeySettings, RawKeySettings};
use crate::route::{NormalizedPath, PathRules, RawRoute, RouteTable};

/// A configuration error: which field, and which rule it breaks. Never holds a secret value.
/// The one error type of every part of `AUTH_CONFIG` (routes, issuers, keys, limits, the rest):
/// a part names its field relative to itself and its caller puts it [`under`](Self::under) its
/// own place, so the path always reads from the document's root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// A path such as `issuers[0].jwks_uri`, or `AUTH_CONFIG` for the document as a whole.
    pub field: String,
    pub reason: String,
}

impl ConfigError {
    /// `field` breaks the rule `reason`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same error with its field placed under `parent`: `limits[0].cost` under `routes[2]`
    /// is `routes[2].limits[0].cost`; a field that starts with an index (`[1].name`) joins
    /// without a dot; an empty field becomes `parent` itself.
    #[must_use]
    pub fn under(self, parent: &str) -> Self {
        let field = match self.field.as_str() {
            "" => parent.to_string(),
            f if f.starts_with('[') => format!("{parent}{f}"),
            f => format!("{parent}.{f}"),
        };
        ConfigError { field, ..self }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for ConfigError {}

fn error(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::new(field, reason)
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
    pub admin_scope: Option<RawAdminScope>,
    /// The hosts this edge serves (`api.example.com`, with `:port` where not the default);
    /// requests for any other host are refused (421). Default: every host routed to the Worker.
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
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
    /// The state tier's revocation view (used when `AUTH_STATE` is bound).
    #[serde(default)]
    pub revocation: Option<RawRevocation>,
    /// The authority's audit log.
    #[serde(default)]
    pub audit: Option<RawAudit>,
    /// The failed-authentication budget per client address (`src/failures.rs`).
    #[serde(default)]
    pub failed_auth: Option<crate::failures::RawFailureSettings>,
    /// How limits and credits are leased and charged (`src/limits/`).
    #[serde(default)]
    pub usage: Option<crate::limits::RawUsageSettings>,
    /// Dev-only settings; must be off in deployed configs.
    #[serde(default)]
    pub debug: Option<DebugSettings>,
}

/// `revocation` (docs/state.md): how fresh each isolate's view of revocations must be.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRevocation {
    /// No positive verdict rests on a view older than this (1-60, default 5).
    #[serde(default)]
    pub max_staleness_seconds: Option<u64>,
    /// `refuse` (default: 503 while the view is too old) or `serve` (keep serving; revocation
    /// then takes KV's ~150 s).
    #[serde(default)]
    pub on_stale: Option<crate::state::OnStale>,
    /// How long a principal cut-off is kept (default 86,400: the longest token lifetime you
    /// accept; 300 to 31,622,400).
    #[serde(default)]
    pub principal_retention_seconds: Option<u64>,
}

/// `audit`: the authority's audit log.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    /// Days an audit row is kept (1-3650, default 90).
    #[serde(default)]
    pub retention_days: Option<u64>,
}

/// `debug`: settings for development, all off by default. They must be off in deployed configs.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DebugSettings {
    /// Put the rejection's reason code into the problem's `detail` (it tells a client exactly
    /// which check failed: never in production).
    #[serde(default)]
    pub explain_rejections: bool,
}

/// `admin_scope`: `{"issuer", "scope"}`, or a bare scope when exactly one issuer is configured.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawAdminScope {
    Scope(String),
    Qualified(RawQualifiedScope),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQualifiedScope {
    pub issuer: String,
    pub scope: String,
}

/// The JWT scope that grants the admin API, and the only issuer trusted to grant it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminScope {
    pub issuer: String,
    pub scope: String,
}

/// `ADMIN_TOKEN`: kept out of `Debug` output and compared only in constant time.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// True when `presented` is this token (constant time, see
    /// [`crate::admin::admin_token_matches`]).
    #[must_use]
    pub fn matches(&self, presented: &str) -> bool {
        crate::admin::admin_token_matches(presented, &self.0)
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// Shortest `ADMIN_TOKEN` accepted: 32 bytes, as the contract asks.
pub const MIN_ADMIN_TOKEN_BYTES: usize = 32;

/// `forward`: what beyond the identity headers reaches the origin, and how.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForward {
    /// Accept `;` path parameters and forward them (default false: refused with 400).
    #[serde(default)]
    pub matrix_parameters: Option<bool>,
    /// Keep the client's `X-Forwarded-*`, `Forwarded`, `X-Real-IP`… (default false: the edge
    /// sets its own). Only when a proxy the operator trusts sits in front of the edge.
    #[serde(default)]
    pub trust_forwarded_headers: Option<bool>,
    /// Allow an `origin` over plain http on a non-loopback host (default false).
    #[serde(default)]
    pub allow_http_origin: Option<bool>,
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

/// Forwarding settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardSettings {
    pub claims: bool,
    pub claims_max_bytes: usize,
    pub path_rules: PathRules,
    pub trust_forwarded_headers: bool,
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
    /// A JWT scope that grants the admin API, and its issuer, if any.
    pub admin_scope: Option<AdminScope>,
    /// `ADMIN_TOKEN`, when set (at least [`MIN_ADMIN_TOKEN_BYTES`]).
    pub admin_token: Option<AdminToken>,
    /// `hosts`: the only hosts served, lowercase; `None`: any.
    pub hosts: Option<Vec<String>>,
    pub issuers: Issuers,
    pub routes: RouteTable,
    pub keys: KeySettings,
    pub jwks: JwksSettings,
    pub forward: ForwardSettings,
    pub assertion: AssertionSettings,
    /// Signs `X-Auth-Assertion`; `None` when `ASSERTION_KEY` is not set.
    pub assertion_signer: Option<AssertionSigner>,
    /// Dev-only settings (`debug`).
    pub debug: DebugSettings,
    /// `revocation`: the state tier's view rules.
    pub revocation: crate::state::RevocationSettings,
    /// `audit.retention_days`.
    pub audit_retention_days: u64,
    /// `failed_auth`.
    pub failed_auth: crate::failures::FailureSettings,
    /// `usage`.
    pub usage: crate::limits::UsageSettings,
}

impl Config {
    /// The configured issuer when there is exactly one (what a PAT stored without an issuer, or
    /// a bare `admin_scope`, belongs to).
    #[must_use]
    pub fn sole_issuer(&self) -> Option<&str> {
        let mut all = self.issuers.iter();
        match (all.next(), all.next()) {
            (Some(only), None) => Some(only.issuer.as_str()),
            _ => None,
        }
    }
}

const DEFAULT_REALM: &str = "api";
const DEFAULT_ADMIN_PATH: &str = "/_auth";

impl Config {
    /// Parse `AUTH_CONFIG` text. `secret(name)` returns the value of a secret binding.
    pub fn from_json(
        text: &str,
        secret: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let raw: RawConfig = serde_json::from_str(text).map_err(|e| {
            let path = crate::json_path::error_path(text.as_bytes(), &e);
            let field = if path == "." {
                "AUTH_CONFIG".to_string()
            } else {
                path
            };
            // serde_json appends " at line L column C" of the text it read, which is not the
            // user's file (wrangler re-serialises the var): the field already says where.
            let message = e.to_string();
            let message = match message.rfind(" at line ") {
                Some(i) => message.get(..i).unwrap_or(&message).to_string(),
                None => message,
            };
            error(field, message)
        })?;
        Config::from_raw(raw, secret)
    }

    pub fn from_raw(
        raw: RawConfig,
        secret: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let debug = raw.debug.unwrap_or_default();
        let forward_raw = raw.forward.unwrap_or_default();
        let allow_http = forward_raw.allow_http_origin.unwrap_or(false);
        let origin = raw
            .origin
            .as_deref()
            .map(|o| parse_origin(o, allow_http))
            .transpose()?;

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

        let mut policies = Vec::with_capacity(raw.issuers.len());
        let mut hs256_names: Vec<String> = Vec::new();
        for (index, issuer) in raw.issuers.into_iter().enumerate() {
            // An HS256 secret is the issuer's whole identity: whoever holds it mints that
            // issuer's tokens. Shared by two issuers, one could mint the other's principals; the
            // admin token or the assertion key as a secret would let their holders mint tokens.
            if let Some(name) = &issuer.hs256_secret {
                let field = format!("issuers[{index}].hs256_secret");
                if name == "ADMIN_TOKEN" || name == "ASSERTION_KEY" {
                    return Err(error(
                        field,
                        "must name a secret of its own, not ADMIN_TOKEN or ASSERTION_KEY",
                    ));
                }
                if hs256_names.contains(name) {
                    return Err(error(
                        field,
                        "names a secret another issuer already uses: each issuer needs its own",
                    ));
                }
                // The same rule on the values: two names holding one secret are one secret.
                if let Some(value) = secret(name) {
                    let others = hs256_names
                        .iter()
                        .map(String::as_str)
                        .chain(["ADMIN_TOKEN", "ASSERTION_KEY"]);
                    if others.filter_map(secret).any(|other| other == value) {
                        return Err(error(
                            field,
                            "holds the same value as another issuer's secret, ADMIN_TOKEN or ASSERTION_KEY: each issuer needs a secret of its own",
                        ));
                    }
                }
                hs256_names.push(name.clone());
            }
            let policy = IssuerPolicy::from_raw(issuer, index, secret)?;
            policies.push(policy);
        }
        let issuers = Issuers::new(policies)?;
        let admin_scope = raw
            .admin_scope
            .map(|a| admin_scope(a, &issuers))
            .transpose()?;
        let admin_token = match secret("ADMIN_TOKEN") {
            None => None,
            Some(t) if t.len() < MIN_ADMIN_TOKEN_BYTES => {
                return Err(error(
                    "ADMIN_TOKEN",
                    "must be at least 32 bytes (e.g. `openssl rand -base64 32`); unset it to disable the admin API",
                ))
            }
            Some(t) => Some(AdminToken(t)),
        };
        let hosts = raw.hosts.map(parse_hosts).transpose()?;

        if raw.routes.is_empty() {
            return Err(error(
                "routes",
                "at least one route is required (without routes every request is refused)",
            ));
        }
        let routes = RouteTable::from_raw(raw.routes)?;
        if let Some((field, name)) = routes.unknown_issuer(&|iss| issuers.get(iss).is_some()) {
            return Err(error(
                field,
                format!("\"{name}\" is not one of the configured issuers[].issuer"),
            ));
        }

        let keys = KeySettings::from_raw(raw.keys.unwrap_or_default())?;
        let jwks = JwksSettings::from_raw(raw.jwks.unwrap_or_default())?;

        let forward = ForwardSettings {
            claims: forward_raw.claims.unwrap_or(false),
            claims_max_bytes: forward_raw.claims_max_bytes.unwrap_or(4096),
            path_rules: PathRules {
                matrix_parameters: forward_raw.matrix_parameters.unwrap_or(false),
            },
            trust_forwarded_headers: forward_raw.trust_forwarded_headers.unwrap_or(false),
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

        let revocation = revocation_settings(raw.revocation.unwrap_or_default())?;
        let audit_retention_days = raw.audit.unwrap_or_default().retention_days.unwrap_or(90);
        if !(1..=3650).contains(&audit_retention_days) {
            return Err(error("audit.retention_days", "must be between 1 and 3650"));
        }

        let failed_auth =
            crate::failures::FailureSettings::from_raw(raw.failed_auth.unwrap_or_default())
                .map_err(|(field, reason)| error(field, reason))?;

        let usage = crate::limits::UsageSettings::from_raw(raw.usage.unwrap_or_default())
            .map_err(|(field, reason)| error(field, reason))?;

        Ok(Config {
            usage,
            failed_auth,
            revocation,
            audit_retention_days,
            assertion_signer,
            origin,
            realm,
            admin_path,
            admin_path_text,
            admin_scope,
            admin_token,
            hosts,
            issuers,
            routes,
            keys,
            jwks,
            forward,
            assertion,
            debug,
        })
    }
}

fn revocation_settings(
    raw: RawRevocation,
) -> Result<crate::state::RevocationSettings, ConfigError> {
    let defaults = crate::state::RevocationSettings::default();
    let staleness = raw
        .max_staleness_seconds
        .unwrap_or(defaults.max_staleness_ms / 1000);
    if !(1..=60).contains(&staleness) {
        return Err(error(
            "revocation.max_staleness_seconds",
            "must be between 1 and 60",
        ));
    }
    let retention = raw
        .principal_retention_seconds
        .unwrap_or(defaults.principal_retention_seconds);
    if !(300..=31_622_400).contains(&retention) {
        return Err(error(
            "revocation.principal_retention_seconds",
            "must be between 300 and 31622400 (366 days)",
        ));
    }
    Ok(crate::state::RevocationSettings {
        max_staleness_ms: staleness * 1000,
        on_stale: raw.on_stale.unwrap_or(defaults.on_stale),
        principal_retention_seconds: retention,
        max_entries: defaults.max_entries,
    })
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

fn parse_origin(text: &str, allow_http: bool) -> Result<Origin, ConfigError> {
    let url = Url::parse(text).map_err(|_| error("origin", "must be an absolute http(s) URL"))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(error("origin", "must use http or https"));
    }
    if url.scheme() == "http" && !allow_http && !crate::jwt::is_loopback_url(&url) {
        return Err(error(
            "origin",
            "must use https (plain http only on loopback, or with forward.allow_http_origin: credentials and identity would cross the network in clear)",
        ));
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

/// `admin_scope` → the scope and its issuer. The bare form names no issuer, so it is only
/// unambiguous when exactly one issuer is configured.
fn admin_scope(raw: RawAdminScope, issuers: &Issuers) -> Result<AdminScope, ConfigError> {
    let (issuer, scope, field) = match raw {
        RawAdminScope::Qualified(q) => (q.issuer, q.scope, "admin_scope.scope"),
        RawAdminScope::Scope(scope) => {
            let mut all = issuers.iter();
            match (all.next(), all.next()) {
                (Some(only), None) => (only.issuer.clone(), scope, "admin_scope"),
                (None, _) => {
                    return Err(error(
                        "admin_scope",
                        "needs a configured issuer: admin-scoped JWTs come from issuers[]",
                    ))
                }
                (Some(_), Some(_)) => {
                    return Err(error(
                        "admin_scope",
                        "with several issuers, write {\"issuer\": \"…\", \"scope\": \"…\"}: a scope is only as trusted as the issuer that grants it",
                    ))
                }
            }
        }
    };
    if !is_scope_token(&scope) {
        return Err(error(field, "must be a single scope token"));
    }
    if issuers.get(&issuer).is_none() {
        return Err(error(
            "admin_scope.issuer",
            "must be one of the configured issuers[].issuer",
        ));
    }
    Ok(AdminScope { issuer, scope })
}

/// `hosts`: `name` or `name:port`, lowercase ASCII (punycode for internationalised names).
fn parse_hosts(list: Vec<String>) -> Result<Vec<String>, ConfigError> {
    if list.is_empty() {
        return Err(error(
            "hosts",
            "must not be empty (omit it to serve every host)",
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, host) in list.into_iter().enumerate() {
        let valid = !host.is_empty()
            && host.len() <= 261
            && host.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            });
        if !valid {
            return Err(error(
                format!("hosts[{i}]"),
                "must be a host name (and :port), such as \"api.example.com\"",
            ));
        }
        out.push(host.to_ascii_lowercase());
    }
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::ConfigError;

    #[test]
    fn a_part_names_its_field_and_the_caller_places_it() {
        let e = |f: &str| ConfigError::new(f, "rule");
        assert_eq!(e("cost").under("routes[2]").field, "routes[2].cost");
        assert_eq!(
            e("[1].limit").under("routes[0].limits").field,
            "routes[0].limits[1].limit"
        );
        assert_eq!(e("").under("routes[0].limits").field, "routes[0].limits");
        assert_eq!(e("x").under("b").under("a").field, "a.b.x");
        assert_eq!(
            e("cost").under("routes[2]").to_string(),
            "routes[2].cost: rule"
        );
    }
}
