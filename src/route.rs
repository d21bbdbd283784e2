//! Route matching: (method, path) → the [`Requirement`] the request must meet, or no match (deny).
//!
//! Paths are matched after normalisation ([`NormalizedPath`]): percent-decoding, `.`/`..`
//! resolution and empty-segment collapsing happen *before* matching, so no encoding trick can move
//! a request from a protected route to a public one. Paths that cannot be normalised without
//! ambiguity (an encoded `/` or `\`, a control character, invalid UTF-8 or percent-encoding) are
//! refused rather than guessed at. Matching is case-sensitive, but many origins (Express, ASP.NET
//! Core, IIS) route without regard to ASCII case: a path that would match a different route when
//! case is ignored is refused ([`RouteTable::find_unambiguous`]) rather than forwarded to a route
//! the origin may not agree with. No I/O, no clock.

use crate::reason::Reason;
use serde::Deserialize;

use crate::config::ConfigError;
use crate::identity::{is_scope_token, CredentialKind};

/// How a route treats credentials.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// A valid credential is required.
    #[default]
    Required,
    /// A credential is verified if sent; without one the request is forwarded as anonymous.
    Optional,
    /// No credential is looked at.
    Public,
}

/// The credential kinds a route accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcceptSet {
    pub jwt: bool,
    pub api_key: bool,
    pub pat: bool,
}

impl AcceptSet {
    pub const ALL: AcceptSet = AcceptSet {
        jwt: true,
        api_key: true,
        pat: true,
    };

    /// The accepted kinds' names, in the order `jwt`, `api_key`, `pat`.
    #[must_use]
    pub fn names(self) -> Vec<&'static str> {
        [
            (self.jwt, CredentialKind::Jwt),
            (self.api_key, CredentialKind::ApiKey),
            (self.pat, CredentialKind::Pat),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, k)| k.as_str())
        .collect()
    }

    #[must_use]
    pub fn accepts(self, kind: CredentialKind) -> bool {
        match kind {
            CredentialKind::Jwt => self.jwt,
            CredentialKind::ApiKey => self.api_key,
            CredentialKind::Pat => self.pat,
        }
    }
}

/// The route entry as written in `AUTH_CONFIG`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub path: String,
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    #[serde(default)]
    pub auth: Option<AuthMode>,
    #[serde(default)]
    pub accept: Option<Vec<String>>,
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// The issuers whose JWTs (and PATs made with their JWTs) this route accepts; default: every
    /// configured issuer. API keys carry no issuer: use `accept` to refuse them.
    #[serde(default)]
    pub issuers: Option<Vec<String>>,
    /// Forward the credential header(s) to the origin (default: stripped).
    #[serde(default)]
    pub forward_credentials: Option<bool>,
    /// Let CORS preflight requests (`OPTIONS` with `Access-Control-Request-Method`) through
    /// without credentials (default: false).
    #[serde(default)]
    pub cors_preflight: Option<bool>,
    /// Rate limits every request of this route spends (issue #15; a key's own limit of the same
    /// name replaces one of these). They need the state tier (`AUTH_STATE`).
    #[serde(default)]
    pub limits: Option<Vec<crate::limits::LimitDef>>,
    /// What one request spends against the limits and the key's credits (default 1).
    #[serde(default)]
    pub cost: Option<u64>,
}

/// What a matched route demands of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// Index of the route in the config, for logs.
    pub route_index: usize,
    /// The route's `path` pattern as configured (`/v1/**`), for logs.
    pub pattern: String,
    pub auth: AuthMode,
    pub accept: AcceptSet,
    /// Every one of these scopes is required.
    pub scopes: Vec<String>,
    /// `None`: any configured issuer; else the only issuers whose tokens and PATs pass.
    pub issuers: Option<Vec<String>>,
    pub forward_credentials: bool,
    pub cors_preflight: bool,
    /// `limits` (validated; empty for most routes, which then cost nothing).
    pub limits: Vec<crate::limits::LimitDef>,
    /// `cost` (1 to 1,000,000, default 1).
    pub cost: u64,
}

impl Requirement {
    /// True when a credential from `issuer` may pass: every issuer when the route names none;
    /// API keys (no issuer) are governed by `accept` alone.
    #[must_use]
    pub fn accepts_issuer(&self, issuer: Option<&str>) -> bool {
        match (&self.issuers, issuer) {
            (None, _) | (Some(_), None) => true,
            (Some(list), Some(iss)) => list.iter().any(|i| i == iss),
        }
    }
}

/// One compiled route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pattern: Vec<PatternSegment>,
    /// `None`: any method.
    methods: Option<Vec<String>>,
    requirement: Requirement,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PatternSegment {
    /// A segment with optional `*` wildcards inside it (each matches within the segment).
    Glob(String),
    /// `**`: zero or more remaining segments. Only valid last.
    Rest,
}

impl Route {
    /// Validate and compile `routes[index]`.
    pub fn from_raw(raw: RawRoute, index: usize) -> Result<Route, ConfigError> {
        let err = |field: &str, reason: &str| {
            ConfigError::new(field, reason).under(&format!("routes[{index}]"))
        };
        let pattern = compile_pattern(&raw.path).map_err(|reason| err("path", reason))?;
        let methods = match raw.methods {
            None => None,
            Some(list) => {
                if list.is_empty() {
                    return Err(err(
                        "methods",
                        "must not be empty (omit it to allow every method)",
                    ));
                }
                for m in &list {
                    if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                        return Err(err(
                            "methods",
                            "each method must be an upper-case HTTP method name such as \"GET\"",
                        ));
                    }
                }
                Some(list)
            }
        };
        let auth = raw.auth.unwrap_or_default();
        let accept = match raw.accept {
            None => AcceptSet::ALL,
            Some(list) => {
                if list.is_empty() {
                    return Err(err(
                        "accept",
                        "must not be empty (omit it to accept every kind)",
                    ));
                }
                let mut set = AcceptSet {
                    jwt: false,
                    api_key: false,
                    pat: false,
                };
                for kind in &list {
                    match kind.as_str() {
                        "jwt" => set.jwt = true,
                        "api_key" => set.api_key = true,
                        "pat" => set.pat = true,
                        _ => {
                            return Err(err(
                                "accept",
                                "each entry must be one of \"jwt\", \"api_key\", \"pat\"",
                            ))
                        }
                    }
                }
                set
            }
        };
        let scopes = raw.scopes.unwrap_or_default();
        for scope in &scopes {
            if !is_scope_token(scope) {
                return Err(err("scopes", "each scope must be 1-1024 printable ASCII characters without spaces, quotes or backslashes"));
            }
        }
        if auth == AuthMode::Public && (!scopes.is_empty()) {
            return Err(err("scopes", "a public route cannot require scopes"));
        }
        if let Some(list) = &raw.issuers {
            if list.is_empty() {
                return Err(err(
                    "issuers",
                    "must not be empty (omit it to accept every configured issuer)",
                ));
            }
            if auth == AuthMode::Public {
                return Err(err("issuers", "a public route looks at no credential"));
            }
        }
        let cost = raw.cost.unwrap_or(1);
        if !(1..=1_000_000).contains(&cost) {
            return Err(err("cost", "must be between 1 and 1000000"));
        }
        let limits = raw.limits.unwrap_or_default();
        crate::limits::validate_limits(&limits, cost)
            .map_err(|e| e.under(&format!("routes[{index}].limits")))?;
        Ok(Route {
            pattern,
            methods,
            requirement: Requirement {
                limits,
                cost,
                route_index: index,
                pattern: raw.path.clone(),
                auth,
                accept,
                scopes,
                issuers: raw.issuers,
                forward_credentials: raw.forward_credentials.unwrap_or(false),
                cors_preflight: raw.cors_preflight.unwrap_or(false),
            },
        })
    }

    fn matches(&self, method: &str, path: &NormalizedPath) -> bool {
        self.matches_with(method, path, Case::Exact)
    }

    fn matches_with(&self, method: &str, path: &NormalizedPath, case: Case) -> bool {
        let method_ok = match &self.methods {
            None => true,
            // HEAD is GET without a body: a route open to GET is open to HEAD.
            Some(list) => list
                .iter()
                .any(|m| m == method || (method == "HEAD" && m == "GET")),
        };
        method_ok && match_segments(&self.pattern, &path.segments, case)
    }

    /// True when a literal part of the pattern holds an ASCII upper-case letter.
    fn has_uppercase(&self) -> bool {
        self.pattern.iter().any(|p| match p {
            PatternSegment::Glob(g) => g.bytes().any(|b| b.is_ascii_uppercase()),
            PatternSegment::Rest => false,
        })
    }
}

/// How pattern letters are compared with path letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    /// Byte for byte: how routes match.
    Exact,
    /// ASCII letters without regard to case: how a case-insensitive origin might route.
    AsciiInsensitive,
}

impl Case {
    fn eq(self, a: u8, b: u8) -> bool {
        match self {
            Case::Exact => a == b,
            Case::AsciiInsensitive => a.eq_ignore_ascii_case(&b),
        }
    }
}

fn compile_pattern(path: &str) -> Result<Vec<PatternSegment>, &'static str> {
    let rest = path.strip_prefix('/').ok_or("must start with \"/\"")?;
    if path.len() > 1024 {
        return Err("must be at most 1024 characters");
    }
    let mut out = Vec::new();
    let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let count = parts.len();
    for (i, part) in parts.into_iter().enumerate() {
        if part == "**" {
            if i + 1 != count {
                return Err("\"**\" may only be the last segment");
            }
            out.push(PatternSegment::Rest);
        } else if part.contains("**") {
            return Err("\"**\" must be a whole segment");
        } else if part == "." || part == ".." || part.contains('%') || part.contains('\\') {
            return Err("must be a normalised path: no \".\", \"..\", \"%\" or \"\\\" segments");
        } else if part.chars().any(char::is_control) {
            return Err("must not contain control characters");
        } else {
            out.push(PatternSegment::Glob(part.to_string()));
        }
    }
    Ok(out)
}

fn match_segments(pattern: &[PatternSegment], path: &[String], case: Case) -> bool {
    match (pattern.split_first(), path.split_first()) {
        (None, None) => true,
        (Some((PatternSegment::Rest, _)), _) => true,
        (Some((PatternSegment::Glob(g), prest)), Some((seg, srest))) => {
            glob_segment_with(g.as_bytes(), seg.as_bytes(), case)
                && match_segments(prest, srest, case)
        }
        _ => false,
    }
}

/// `*` matches any run of characters within one segment (including none); other bytes compare
/// under `case`. Iterative, linear backtracking on the last star: no exponential blow-up on
/// hostile paths.
fn glob_segment_with(pattern: &[u8], text: &[u8], case: Case) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match (pattern.get(p), text.get(t)) {
            (Some(b'*'), _) => {
                star = Some((p, t));
                p += 1;
            }
            (Some(&pc), Some(&tc)) if case.eq(pc, tc) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

/// The route table: first match wins; no match means deny.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteTable {
    routes: Vec<Route>,
    /// Some route's pattern has an ASCII upper-case letter, so even an all-lower-case path can
    /// match another route when case is ignored (see [`RouteTable::find_unambiguous`]).
    uppercase_patterns: bool,
}

impl RouteTable {
    pub fn from_raw(raw: Vec<RawRoute>) -> Result<RouteTable, ConfigError> {
        let routes = raw
            .into_iter()
            .enumerate()
            .map(|(i, r)| Route::from_raw(r, i))
            .collect::<Result<Vec<_>, _>>()?;
        // One name is one counter (per object): routes that share a limit's name must define it
        // alike, or a request on one route would count against another's different limit.
        for (i, route) in routes.iter().enumerate() {
            for (j, limit) in route.requirement.limits.iter().enumerate() {
                let earlier = routes.iter().take(i).find_map(|r| {
                    r.requirement
                        .limits
                        .iter()
                        .find(|l| l.name == limit.name && l != &limit)
                        .map(|_| r.requirement.route_index)
                });
                if let Some(k) = earlier {
                    return Err(ConfigError {
                        field: format!("routes[{i}].limits[{j}]"),
                        reason: format!(
                            "a limit named \"{}\" is defined differently in routes[{k}]: one name is one counter",
                            limit.name
                        ),
                    });
                }
            }
        }
        let uppercase_patterns = routes.iter().any(Route::has_uppercase);
        Ok(RouteTable {
            routes,
            uppercase_patterns,
        })
    }

    /// The first `routes[i].issuers[j]` for which `known` is false, as (field, name).
    #[must_use]
    pub fn unknown_issuer(&self, known: &dyn Fn(&str) -> bool) -> Option<(String, String)> {
        self.routes.iter().find_map(|r| {
            let list = r.requirement.issuers.as_ref()?;
            list.iter().enumerate().find_map(|(j, name)| {
                (!known(name)).then(|| {
                    (
                        format!("routes[{}].issuers[{j}]", r.requirement.route_index),
                        name.clone(),
                    )
                })
            })
        })
    }

    /// The first route matching `method` and `path` (case-sensitive).
    #[must_use]
    pub fn find(&self, method: &str, path: &NormalizedPath) -> Option<&Requirement> {
        self.routes
            .iter()
            .find(|r| r.matches(method, path))
            .map(|r| &r.requirement)
    }

    /// [`RouteTable::find`], refusing a path that an origin routing without regard to ASCII case
    /// (Express, ASP.NET Core, IIS) could send to another route: `POST /v1/ADMIN/users` misses
    /// `/v1/admin/**` here, but such an origin runs its admin handler. Refused when the first
    /// match ignoring ASCII case is another route than the first exact match. Refusing beats
    /// guessing which route the origin will pick. A path no route matches exactly is `None`
    /// (the contract's 403 "no route matches") whatever it matches ignoring case: nothing is
    /// forwarded either way, and `/PUBLIC/x` beside `/public/**` is a path without a route.
    ///
    /// The second scan only runs when the path or some route pattern holds an ASCII upper-case
    /// letter: otherwise ignoring case cannot change which route matches, so the usual
    /// all-lower-case path against all-lower-case routes costs one look at the path's bytes and
    /// no second pass over the routes.
    pub fn find_unambiguous(
        &self,
        method: &str,
        path: &NormalizedPath,
    ) -> Result<Option<&Requirement>, CaseAmbiguity> {
        // Letters outside ASCII whose simple case mapping is ASCII (`İ`→`i`, `ı`→`I`, `ſ`→`S`,
        // the Kelvin sign `K`→`k`): .NET's OrdinalIgnoreCase and other Unicode-aware
        // case-insensitive routers read `/v1/admın` as `/v1/ADMIN`. Refused, not folded: no
        // legitimate API path needs them, and folding them would mean guessing which router.
        let Some(exact) = self.routes.iter().position(|r| r.matches(method, path)) else {
            return Ok(None);
        };
        if path.has_ascii_case_lookalike() {
            return Err(CaseAmbiguity);
        }
        if self.uppercase_patterns || path.has_uppercase() {
            let folded = self
                .routes
                .iter()
                .position(|r| r.matches_with(method, path, Case::AsciiInsensitive));
            if folded != Some(exact) {
                return Err(CaseAmbiguity);
            }
        }
        Ok(self.routes.get(exact).map(|r| &r.requirement))
    }
}

/// The path matches another route than its own when ASCII letter case is ignored (or holds a
/// Unicode letter that folds to ASCII): 400 `path_case_ambiguous`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaseAmbiguity;

/// A request path after percent-decoding, dot-segment resolution and empty-segment collapsing,
/// with the canonical form the origin receives (RFC 3986 §6.2.2: percent-encoding normalised,
/// dot segments removed, §5.2.4). The origin is sent [`NormalizedPath::canonical`], never the raw
/// path, so an origin that decodes twice, strips path parameters or trims trailing dots and
/// spaces cannot read the request as another path than the one the routes matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NormalizedPath {
    /// Decoded segment names, as matched (path parameters excluded).
    segments: Vec<String>,
    /// The percent-encoded path to forward: starts with `/`, keeps a trailing slash.
    canonical: String,
}

/// Why a path was refused (400: it cannot be made canonical without guessing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    NotAbsolute,
    BadPercentEncoding,
    /// A decoded segment holds `/`, `\`, NUL or another control character.
    AmbiguousSegment,
    /// `;` (path parameters: Tomcat, Jetty and Spring strip them, others do not) while
    /// `forward.matrix_parameters` is off.
    PathParameters,
    /// A segment that is only path parameters (`/a/;x/b`) while `forward.matrix_parameters` is
    /// on: Tomcat and Spring strip `;x` and collapse the empty segment left (`/a/b`), so the edge
    /// cannot match it as a segment of its own without the origin reading another path.
    ParametersWithoutName,
    /// A decoded `%` (from `%25`): an origin that decodes again would read another path.
    EncodedPercent,
    /// A segment ending in `.` or a space: some servers (IIS, some Java containers) trim them.
    TrailingDotOrSpace,
    TooLong,
}

impl PathError {
    #[must_use]
    pub fn reason(self) -> Reason {
        match self {
            PathError::NotAbsolute => Reason::PathNotAbsolute,
            PathError::BadPercentEncoding => Reason::PathBadEncoding,
            PathError::AmbiguousSegment => Reason::PathAmbiguous,
            PathError::PathParameters => Reason::PathParameters,
            PathError::ParametersWithoutName => Reason::PathParametersWithoutName,
            PathError::EncodedPercent => Reason::PathEncodedPercent,
            PathError::TrailingDotOrSpace => Reason::PathTrailingDotOrSpace,
            PathError::TooLong => Reason::PathTooLong,
        }
    }

    /// What the client should change (static text, safe to return).
    #[must_use]
    pub fn detail(self) -> &'static str {
        match self {
            PathError::NotAbsolute => "The request path must start with \"/\".",
            PathError::BadPercentEncoding => {
                "The request path has invalid percent-encoding or is not UTF-8."
            }
            PathError::AmbiguousSegment => {
                "The request path holds an encoded \"/\", \"\\\" or a control character."
            }
            PathError::PathParameters => {
                "Path parameters (\";\") are not accepted: origins disagree on what they mean."
            }
            PathError::ParametersWithoutName => {
                "A path segment holds only path parameters (\";\" with no name before it)."
            }
            PathError::EncodedPercent => {
                "The request path holds \"%25\": a double-encoded path is not accepted."
            }
            PathError::TrailingDotOrSpace => {
                "A path segment ends in \".\" or a space, which some servers strip."
            }
            PathError::TooLong => "The request path is too long.",
        }
    }
}

/// How paths are read; from `forward.matrix_parameters`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathRules {
    /// Accept `;` path parameters: routes match the segment before `;`, and the origin receives
    /// the parameters. Only for origins that need them (see the README for the risk).
    pub matrix_parameters: bool,
}

const MAX_PATH_LEN: usize = 8192;

impl NormalizedPath {
    /// Normalise the path part of a URL (without query) under the default rules (no path
    /// parameters). Works on the raw, still-encoded path.
    pub fn parse(raw: &str) -> Result<NormalizedPath, PathError> {
        Self::parse_with(raw, PathRules::default())
    }

    /// Normalise `raw` under `rules`.
    pub fn parse_with(raw: &str, rules: PathRules) -> Result<NormalizedPath, PathError> {
        if raw.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        let rest = raw.strip_prefix('/').ok_or(PathError::NotAbsolute)?;
        // (name as matched, the encoded segment as forwarded)
        let mut kept: Vec<(String, String)> = Vec::new();
        let mut trailing_slash = false;
        for raw_segment in rest.split('/') {
            let decoded = percent_decode(raw_segment)?;
            if decoded
                .chars()
                .any(|c| c == '/' || c == '\\' || c.is_control())
            {
                return Err(PathError::AmbiguousSegment);
            }
            if decoded.contains('%') {
                return Err(PathError::EncodedPercent);
            }
            let (name, params) = match decoded.split_once(';') {
                None => (decoded.as_str(), None),
                Some(_) if !rules.matrix_parameters => return Err(PathError::PathParameters),
                Some((name, params)) => (name, Some(params)),
            };
            match name {
                "" if params.is_none() => trailing_slash = true,
                // `/;x/`: kept, it would be a segment named "" here and nothing at the origin.
                "" => return Err(PathError::ParametersWithoutName),
                "." => trailing_slash = true,
                ".." => {
                    kept.pop();
                    trailing_slash = true;
                }
                _ => {
                    if name.ends_with('.') || name.ends_with(' ') {
                        return Err(PathError::TrailingDotOrSpace);
                    }
                    let mut encoded = encode_segment(name);
                    if let Some(p) = params {
                        encoded.push(';');
                        encoded.push_str(&encode_segment(p));
                    }
                    kept.push((name.to_string(), encoded));
                    trailing_slash = false;
                }
            }
        }
        let mut canonical = String::with_capacity(raw.len());
        for (_, encoded) in &kept {
            canonical.push('/');
            canonical.push_str(encoded);
        }
        if canonical.is_empty() || trailing_slash {
            canonical.push('/');
        }
        Ok(NormalizedPath {
            segments: kept.into_iter().map(|(name, _)| name).collect(),
            canonical,
        })
    }

    /// True when a segment name holds an ASCII upper-case letter.
    fn has_uppercase(&self) -> bool {
        self.segments
            .iter()
            .any(|s| s.bytes().any(|b| b.is_ascii_uppercase()))
    }

    /// A segment holds a letter whose Unicode simple case mapping is an ASCII letter (only
    /// looked for when a segment has a non-ASCII byte at all).
    fn has_ascii_case_lookalike(&self) -> bool {
        self.segments.iter().any(|s| {
            !s.is_ascii()
                && s.chars()
                    .any(|c| matches!(c, '\u{130}' | '\u{131}' | '\u{17F}' | '\u{212A}'))
        })
    }

    /// The normalised path as text, e.g. `/v1/users` (decoded names, no trailing slash).
    #[must_use]
    pub fn as_string(&self) -> String {
        let mut s = String::new();
        for seg in &self.segments {
            s.push('/');
            s.push_str(seg);
        }
        if s.is_empty() {
            s.push('/');
        }
        s
    }

    /// The path the origin receives: percent-encoding normalised (only what RFC 3986 `pchar`
    /// does not allow is encoded, in upper-case hex), dot segments resolved, empty segments
    /// collapsed, a trailing slash kept.
    #[must_use]
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// The segments after `prefix` (itself a normalised path such as `/_auth`), if it is one.
    #[must_use]
    pub fn strip_prefix(&self, prefix: &NormalizedPath) -> Option<&[String]> {
        self.segments.strip_prefix(prefix.segments.as_slice())
    }
}

/// Percent-encode what RFC 3986 `pchar` does not allow (and `;`, `=` and `,` stay as they are
/// only because they are sub-delims; `;` never reaches here unless path parameters are on).
fn encode_segment(decoded: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(decoded.len());
    for b in decoded.bytes() {
        let allowed = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
            );
        if allowed {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(
                HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'),
            ));
            out.push(char::from(
                HEX.get(usize::from(b & 15)).copied().unwrap_or(b'0'),
            ));
        }
    }
    out
}

fn percent_decode(segment: &str) -> Result<String, PathError> {
    if !segment.contains('%') {
        return Ok(segment.to_string());
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|c| (*c as char).to_digit(16));
            let lo = bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16));
            match (hi, lo) {
                (Some(h), Some(l)) => {
                    out.push(u8::try_from(h * 16 + l).map_err(|_| PathError::BadPercentEncoding)?);
                    i += 3;
                }
                _ => return Err(PathError::BadPercentEncoding),
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PathError::BadPercentEncoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `*` matches any run of characters within one segment (including none), byte for byte.
    fn glob_segment(pattern: &[u8], text: &[u8]) -> bool {
        glob_segment_with(pattern, text, Case::Exact)
    }

    fn table(json: &str) -> RouteTable {
        RouteTable::from_raw(serde_json::from_str(json).unwrap()).unwrap()
    }

    fn find(t: &RouteTable, method: &str, path: &str) -> Option<usize> {
        t.find(method, &NormalizedPath::parse(path).unwrap())
            .map(|r| r.route_index)
    }

    const CONTRACT: &str = r#"[
        { "path": "/health", "auth": "public" },
        { "path": "/v1/admin/**", "methods": ["POST", "DELETE"], "accept": ["jwt"], "scopes": ["admin"] },
        { "path": "/v1/**", "accept": ["jwt", "api_key", "pat"] }
    ]"#;

    #[test]
    fn first_match_wins_and_methods_filter() {
        let t = table(CONTRACT);
        assert_eq!(find(&t, "GET", "/health"), Some(0));
        assert_eq!(find(&t, "POST", "/v1/admin/users"), Some(1));
        assert_eq!(find(&t, "GET", "/v1/admin/users"), Some(2));
        assert_eq!(find(&t, "GET", "/v1"), Some(2));
        assert_eq!(find(&t, "GET", "/v2/x"), None);
        assert_eq!(find(&t, "GET", "/"), None);
    }

    #[test]
    fn single_star_stays_within_a_segment() {
        let t =
            table(r#"[{ "path": "/files/*.json", "auth": "public" }, { "path": "/u/*/profile" }]"#);
        assert_eq!(find(&t, "GET", "/files/a.json"), Some(0));
        assert_eq!(find(&t, "GET", "/files/a/b.json"), None);
        assert_eq!(find(&t, "GET", "/files/.json"), Some(0));
        assert_eq!(find(&t, "GET", "/u/42/profile"), Some(1));
        assert_eq!(find(&t, "GET", "/u/profile"), None);
        assert_eq!(find(&t, "GET", "/u/1/2/profile"), None);
    }

    #[test]
    fn head_follows_get() {
        let t = table(r#"[{ "path": "/a", "methods": ["GET"] }]"#);
        assert_eq!(find(&t, "HEAD", "/a"), Some(0));
        assert_eq!(find(&t, "POST", "/a"), None);
    }

    #[test]
    fn normalisation_cannot_escape_a_protected_route() {
        let t = table(
            r#"[
            { "path": "/v1/admin/**", "scopes": ["admin"] },
            { "path": "/v1/**", "auth": "public" }
        ]"#,
        );
        for p in [
            "/v1/admin/x",
            "/v1//admin/x",
            "/v1/./admin/x",
            "/v1/public/../admin/x",
            "/v1/%61dmin/x",
            "/v1/%2e/admin/x",
            "/v1/x/%2e%2e/admin/x",
            "/v1/admin/./x",
            "//v1/admin/x",
        ] {
            assert_eq!(find(&t, "GET", p), Some(0), "{p}");
        }
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for p in [
            "/v1/admin%2fx",
            "/v1/a%5cb",
            "/v1/%00",
            "/a%zz",
            "/a%c3",
            "relative",
            "/a%0a",
        ] {
            assert!(NormalizedPath::parse(p).is_err(), "{p}");
        }
        assert_eq!(
            NormalizedPath::parse("/a%2Fb"),
            Err(PathError::AmbiguousSegment)
        );
        assert_eq!(
            NormalizedPath::parse("/%"),
            Err(PathError::BadPercentEncoding)
        );
    }

    #[test]
    fn a_segment_of_only_path_parameters_is_refused() {
        let on = PathRules {
            matrix_parameters: true,
        };
        for p in ["/a/;x/b", "/a/;/b", "/;x", "/a/%3bx/b"] {
            assert_eq!(
                NormalizedPath::parse_with(p, on),
                Err(PathError::ParametersWithoutName),
                "{p}"
            );
        }
        // Named segments keep their parameters; `.;x` and `..;x` stay dot segments.
        assert_eq!(
            NormalizedPath::parse_with("/a;x/b", on)
                .unwrap()
                .canonical(),
            "/a;x/b"
        );
        assert_eq!(
            NormalizedPath::parse_with("/a/..;x/b", on)
                .unwrap()
                .as_string(),
            "/b"
        );
        assert_eq!(
            NormalizedPath::parse("/a/;x/b"),
            Err(PathError::PathParameters)
        );
    }

    fn unambiguous(
        t: &RouteTable,
        method: &str,
        path: &str,
    ) -> Result<Option<usize>, CaseAmbiguity> {
        t.find_unambiguous(method, &NormalizedPath::parse(path).unwrap())
            .map(|r| r.map(|r| r.route_index))
    }

    #[test]
    fn a_path_that_matches_another_route_without_case_is_refused() {
        let t = table(CONTRACT);
        assert_eq!(
            unambiguous(&t, "POST", "/v1/ADMIN/users"),
            Err(CaseAmbiguity)
        );
        assert_eq!(
            unambiguous(&t, "POST", "/v1/Admin/users"),
            Err(CaseAmbiguity)
        );
        // No route as written: none (403 `no_route`), whatever case-folding would match.
        assert_eq!(unambiguous(&t, "GET", "/HEALTH"), Ok(None));
        // The same route either way, or none either way: decided as before.
        assert_eq!(unambiguous(&t, "GET", "/v1/ADMIN/users"), Ok(Some(2)));
        assert_eq!(unambiguous(&t, "GET", "/v1/Items"), Ok(Some(2)));
        assert_eq!(unambiguous(&t, "POST", "/v1/admin/Users"), Ok(Some(1)));
        assert_eq!(unambiguous(&t, "GET", "/V2/x"), Ok(None));
        assert_eq!(unambiguous(&t, "POST", "/v1/admin/users"), Ok(Some(1)));
        // `find` itself stays case-sensitive.
        assert_eq!(find(&t, "POST", "/v1/ADMIN/users"), Some(2));
    }

    #[test]
    fn upper_case_in_a_pattern_is_checked_for_all_lower_case_paths_too() {
        let t = table(
            r#"[
            { "path": "/v1/Admin/**", "scopes": ["admin"] },
            { "path": "/v1/admin/**", "auth": "public" },
            { "path": "/v1/*.JSON", "auth": "public" }
        ]"#,
        );
        assert_eq!(unambiguous(&t, "GET", "/v1/Admin/x"), Ok(Some(0)));
        assert_eq!(unambiguous(&t, "GET", "/v1/admin/x"), Err(CaseAmbiguity));
        assert_eq!(unambiguous(&t, "GET", "/v1/a.json"), Ok(None));
        assert_eq!(unambiguous(&t, "GET", "/v1/a.JSON"), Ok(Some(2)));
        assert!(glob_segment_with(
            b"*.JSON",
            b"A.json",
            Case::AsciiInsensitive
        ));
        assert!(!glob_segment_with(b"*.JSON", b"A.json", Case::Exact));
    }

    #[test]
    fn dot_dot_cannot_climb_above_root() {
        assert_eq!(
            NormalizedPath::parse("/../../etc").unwrap().as_string(),
            "/etc"
        );
        assert_eq!(NormalizedPath::parse("/").unwrap().as_string(), "/");
    }

    #[test]
    fn glob_is_linear_on_hostile_input() {
        let pattern = "*a*a*a*a*a*a*a*b";
        let text = "a".repeat(5000);
        assert!(!glob_segment(pattern.as_bytes(), text.as_bytes()));
    }

    fn route_err(json: &str) -> ConfigError {
        RouteTable::from_raw(serde_json::from_str(json).unwrap()).unwrap_err()
    }

    #[test]
    fn each_route_rule_is_enforced() {
        assert_eq!(route_err(r#"[{ "path": "v1" }]"#).field, "routes[0].path");
        assert_eq!(
            route_err(r#"[{ "path": "/a/**/b" }]"#).field,
            "routes[0].path"
        );
        assert_eq!(route_err(r#"[{ "path": "/a**" }]"#).field, "routes[0].path");
        assert_eq!(
            route_err(r#"[{ "path": "/a/../b" }]"#).field,
            "routes[0].path"
        );
        assert_eq!(
            route_err(r#"[{ "path": "/a", "methods": [] }]"#).field,
            "routes[0].methods"
        );
        assert_eq!(
            route_err(r#"[{ "path": "/a", "methods": ["get"] }]"#).field,
            "routes[0].methods"
        );
        assert_eq!(
            route_err(r#"[{ "path": "/a", "accept": [] }]"#).field,
            "routes[0].accept"
        );
        assert_eq!(
            route_err(r#"[{ "path": "/a", "accept": ["cookie"] }]"#).field,
            "routes[0].accept"
        );
        assert_eq!(
            route_err(r#"[{ "path": "/a" }, { "path": "/b", "scopes": ["a b"] }]"#).field,
            "routes[1].scopes"
        );
        assert_eq!(
            route_err(r#"[{ "path": "/a", "auth": "public", "scopes": ["x"] }]"#).field,
            "routes[0].scopes"
        );
        assert!(
            serde_json::from_str::<Vec<RawRoute>>(r#"[{ "path": "/a", "auth": "maybe" }]"#)
                .is_err()
        );
        assert!(
            serde_json::from_str::<Vec<RawRoute>>(r#"[{ "path": "/a", "scope": ["x"] }]"#).is_err()
        );
    }

    #[test]
    fn scope_tokens() {
        assert!(is_scope_token("read:users"));
        assert!(!is_scope_token(""));
        assert!(!is_scope_token("a b"));
        assert!(!is_scope_token("a\"b"));
        assert!(!is_scope_token("é"));
        // One bound for every scope: a token's, a route's and a key's.
        assert!(is_scope_token(
            &"s".repeat(crate::identity::MAX_SCOPE_BYTES)
        ));
        assert!(!is_scope_token(
            &"s".repeat(crate::identity::MAX_SCOPE_BYTES + 1)
        ));
    }
}
