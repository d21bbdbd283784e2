//! The request pipeline: sanitise → route → extract → verify → authorise → header plan.
//! Generic over the ports, so it runs natively against fakes and in the Worker against KV, fetch
//! and WebCrypto. It returns a [`Decision`]; it never forwards or answers anything itself.

use base64ct::{Base64UrlUnpadded, Encoding};

use crate::admin::{
    self, admin_token_matches, AdminCaller, AdminContext, AdminReply, AdminRequest,
};
use crate::apikey::KeyKind;
use crate::assertion::AssertionClaims;
use crate::config::Config;
use crate::extract::{extract, CredentialSource, Extracted, Presented};
use crate::headers::{forward_headers, identity_headers};
use crate::identity::{CredentialKind, Identity};
use crate::jwt::{JwksRefresh, JwtAuthenticator, JwtFailure, SignatureVerifier};
use crate::keycache::{authenticate_key, KeyCache, KeyFailure, Touch};
use crate::ports::{DocumentSource, KeyStore};
use crate::problem::Problem;
use crate::route::{AuthMode, NormalizedPath, Requirement};
use crate::time::UnixTime;

/// The parts of a request the core looks at.
#[derive(Clone, Copy, Debug)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The URL path, still percent-encoded, without the query.
    pub path: &'a str,
    /// Every request header, as received.
    pub headers: &'a [(String, String)],
    /// The request's own origin (`https://edge.example`): the assertion's default `iss`, and
    /// the forwarding target in route mode.
    pub origin: &'a str,
    /// 16 bytes from the CSPRNG for the assertion's `jti` (zeros when no assertion is signed).
    pub entropy: [u8; 16],
}

impl RequestParts<'_> {
    /// The value of a header (names compared case-insensitively).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An endpoint of the Worker itself, under `admin_path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnEndpoint {
    /// `GET {admin_path}/health`
    Health,
    /// `GET {admin_path}/jwks.json`
    Jwks,
    /// `{admin_path}/console/…`: the static console; the rest of the path (`/` for the index,
    /// empty for `{admin_path}/console`, which redirects to the slashed form).
    Console(String),
    /// `{admin_path}/keys…` and `{admin_path}/pats…`: the path after `admin_path`.
    Api(String),
    /// Anything else under `admin_path`.
    NotFound,
}

/// What to do with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Forward to the origin with exactly these headers.
    Forward {
        headers: Vec<(String, String)>,
        /// The verified caller; `None` on public routes and anonymous optional-route requests.
        identity: Option<Identity>,
        /// True when the route is public (no identity headers or assertion).
        public: bool,
        /// When an assertion key is configured (and the route is not public): the assertion's
        /// signing input. The adapter signs it and adds `X-Auth-Assertion: <input>.<signature>`;
        /// it must not forward the request if signing fails.
        assertion: Option<String>,
    },
    /// Answer with this rejection; nothing is forwarded.
    Reject(Problem),
    /// Served by the Worker itself.
    Own(OwnEndpoint),
}

/// What a forwarded request was granted as.
enum Grant {
    /// A public route: no identity headers, no assertion.
    Public,
    /// An optional route without a credential: `X-Auth-Type: anonymous`.
    Anonymous,
    Verified(Identity),
}

/// Work to run after the response is sent (`waitUntil`); never needed for the decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Followup {
    RefreshJwks(JwksRefresh),
    TouchKey(Touch),
}

/// Facts for the decision log line. No credential, hash or secret can be put here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogFacts {
    pub reason: &'static str,
    pub route: Option<usize>,
    pub kind: Option<CredentialKind>,
    pub subject: Option<String>,
    pub key_id: Option<String>,
    pub issuer: Option<String>,
    pub kid: Option<String>,
}

/// The pipeline's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub decision: Decision,
    pub followups: Vec<Followup>,
    pub log: LogFacts,
}

impl Outcome {
    fn reject(problem: Problem, log: LogFacts) -> Outcome {
        let log = LogFacts {
            reason: problem.reason,
            ..log
        };
        Outcome {
            decision: Decision::Reject(problem),
            followups: Vec::new(),
            log,
        }
    }
}

/// The ports one request needs.
pub struct Ports<'a, S, D, V> {
    pub store: &'a S,
    pub documents: &'a D,
    pub verifier: &'a V,
}

/// Per-isolate state: the validated config and the caches that outlive a request.
pub struct Gateway<K> {
    pub config: Config,
    pub keys: KeyCache,
    pub jwt: JwtAuthenticator<K>,
}

impl<K: Clone> Gateway<K> {
    #[must_use]
    pub fn new(config: Config) -> Self {
        let keys = KeyCache::new(&config.keys);
        let jwt = JwtAuthenticator::new(config.issuers.clone(), config.jwks.clone());
        Gateway { config, keys, jwt }
    }

    /// Decide what to do with one request.
    pub async fn decide<S, D, V>(
        &self,
        req: RequestParts<'_>,
        ports: Ports<'_, S, D, V>,
        now: UnixTime,
    ) -> Outcome
    where
        S: KeyStore,
        D: DocumentSource,
        V: SignatureVerifier<Key = K>,
    {
        let mut log = LogFacts::default();
        let path = match NormalizedPath::parse(req.path) {
            Ok(p) => p,
            Err(e) => {
                return Outcome::reject(
                    Problem::new(
                        400,
                        "Invalid request path",
                        e.reason(),
                        "The request path cannot be interpreted unambiguously.",
                    ),
                    log,
                )
            }
        };

        if let Some(rest) = path.strip_prefix(&self.config.admin_path) {
            let endpoint = own_endpoint(rest, req.path);
            log.reason = "own_endpoint";
            return Outcome {
                decision: Decision::Own(endpoint),
                followups: Vec::new(),
                log,
            };
        }

        // A CORS preflight asks about another method; it passes only where its route says so.
        if req.method == "OPTIONS" {
            if let (Some(asked), Some(_)) = (
                req.header("access-control-request-method"),
                req.header("origin"),
            ) {
                if let Some(route) = self.config.routes.find(asked, &path) {
                    if route.cors_preflight {
                        log.route = Some(route.route_index);
                        log.reason = "cors_preflight";
                        return self.forward(req, route, Grant::Public, log, Vec::new(), now);
                    }
                }
            }
        }

        let Some(route) = self.config.routes.find(req.method, &path) else {
            return Outcome::reject(
                Problem::new(
                    403,
                    "Forbidden",
                    "no_route",
                    "No route allows this request.",
                ),
                log,
            );
        };
        log.route = Some(route.route_index);

        if route.auth == AuthMode::Public {
            log.reason = "public";
            return self.forward(req, route, Grant::Public, log, Vec::new(), now);
        }

        let presented = match extract(req.header("authorization"), req.header("x-api-key")) {
            Err(malformed) => {
                return Outcome::reject(
                    Problem::invalid_request(malformed.reason(), malformed.detail()),
                    log,
                )
            }
            Ok(Extracted::One(p)) => p,
            Ok(Extracted::None | Extracted::UnsupportedScheme) => {
                if route.auth == AuthMode::Optional {
                    log.reason = "anonymous";
                    return self.forward(req, route, Grant::Anonymous, log, Vec::new(), now);
                }
                return Outcome::reject(Problem::missing_credential(), log);
            }
        };

        let verified = self.verify(presented, route, &ports, now, &mut log).await;
        let (identity, followups) = match verified {
            Ok(v) => v,
            Err(problem) => return Outcome::reject(problem, log),
        };
        log.subject = Some(identity.subject.clone());
        log.key_id.clone_from(&identity.key_id);
        log.issuer.clone_from(&identity.issuer);
        log.kid.clone_from(&identity.kid);

        if !identity.has_scopes(&route.scopes) {
            let mut outcome = Outcome::reject(Problem::insufficient_scope(&route.scopes), log);
            outcome.followups = followups;
            return outcome;
        }
        log.reason = "authenticated";
        self.forward(req, route, Grant::Verified(identity), log, followups, now)
    }

    /// Verify one presented credential against what the route accepts.
    async fn verify<S, D, V>(
        &self,
        presented: Presented<'_>,
        route: &Requirement,
        ports: &Ports<'_, S, D, V>,
        now: UnixTime,
        log: &mut LogFacts,
    ) -> Result<(Identity, Vec<Followup>), Problem>
    where
        S: KeyStore,
        D: DocumentSource,
        V: SignatureVerifier<Key = K>,
    {
        let token = presented.token;
        let kind = match self.config.keys.format.classify(token) {
            Some(KeyKind::ApiKey) => CredentialKind::ApiKey,
            Some(KeyKind::Pat) => CredentialKind::Pat,
            None if looks_like_jwt(token) => CredentialKind::Jwt,
            None => {
                return Err(Problem::invalid_token(
                    "unrecognised_credential",
                    "The credential is neither a JWT nor a key of a known kind.",
                ))
            }
        };
        log.kind = Some(kind);
        if kind == CredentialKind::Jwt && presented.source == CredentialSource::ApiKeyHeader {
            return Err(Problem::invalid_token(
                "jwt_in_api_key_header",
                "X-API-Key carries API keys and PATs only; send JWTs as Bearer tokens.",
            ));
        }
        if !route.accept.accepts(kind) {
            return Err(Problem::invalid_token(
                "kind_not_accepted",
                "This resource does not accept this kind of credential.",
            ));
        }
        match kind {
            CredentialKind::Jwt => {
                match self
                    .jwt
                    .authenticate(token, ports.documents, ports.verifier, now)
                    .await
                {
                    Ok(success) => {
                        let followups = success
                            .refresh
                            .into_iter()
                            .map(Followup::RefreshJwks)
                            .collect();
                        Ok((success.identity, followups))
                    }
                    Err(JwtFailure::Invalid { reason }) => Err(Problem::invalid_token(
                        reason,
                        "The token is not valid for this API.",
                    )),
                    Err(JwtFailure::Unavailable {
                        reason,
                        retry_after,
                    }) => Err(Problem::unavailable(
                        reason,
                        retry_after,
                        "The token issuer's keys cannot be fetched right now.",
                    )),
                }
            }
            CredentialKind::ApiKey | CredentialKind::Pat => {
                let expected = if kind == CredentialKind::Pat {
                    KeyKind::Pat
                } else {
                    KeyKind::ApiKey
                };
                match authenticate_key(
                    &self.config.keys.format,
                    &self.keys,
                    ports.store,
                    token,
                    Some(expected),
                    now,
                )
                .await
                {
                    Ok(success) => {
                        let followups = success.touch.into_iter().map(Followup::TouchKey).collect();
                        Ok((success.identity, followups))
                    }
                    Err(KeyFailure::Invalid { reason }) => {
                        Err(Problem::invalid_token(reason, "The key is not valid."))
                    }
                    Err(KeyFailure::Unavailable {
                        reason,
                        retry_after,
                    }) => Err(Problem::unavailable(
                        reason,
                        retry_after,
                        "Keys cannot be looked up right now.",
                    )),
                }
            }
        }
    }

    fn forward(
        &self,
        req: RequestParts<'_>,
        route: &Requirement,
        grant: Grant,
        log: LogFacts,
        followups: Vec<Followup>,
        now: UnixTime,
    ) -> Outcome {
        let (identity, public) = match grant {
            Grant::Public => (None, true),
            Grant::Anonymous => (None, false),
            Grant::Verified(identity) => (Some(identity), false),
        };
        let mut set = if public {
            Vec::new()
        } else {
            identity_headers(identity.as_ref())
        };
        let assertion = if public {
            None
        } else {
            set.extend(self.claims_header(identity.as_ref()));
            self.assertion_input(&req, identity.as_ref(), now)
        };
        let headers = forward_headers(req.headers, route.forward_credentials, set);
        Outcome {
            decision: Decision::Forward {
                headers,
                identity,
                public,
                assertion,
            },
            followups,
            log,
        }
    }
}

impl<K: Clone> Gateway<K> {
    /// Serve the admin API (`{admin_path}/keys…`, `/pats…`): decide who the caller is, then hand
    /// over to [`crate::admin`]. `admin_token` is the `ADMIN_TOKEN` secret, if set.
    pub async fn admin<S, D, V>(
        &self,
        req: AdminRequest<'_>,
        headers: &[(String, String)],
        admin_token: Option<&str>,
        ports: Ports<'_, S, D, V>,
        now: UnixTime,
        fill: &mut dyn FnMut(&mut [u8]),
    ) -> AdminReply
    where
        S: KeyStore,
        D: DocumentSource,
        V: SignatureVerifier<Key = K>,
    {
        let is_keys = req.path.starts_with("/keys");
        let admin_token = admin_token.filter(|t| !t.is_empty());
        if is_keys && admin_token.is_none() && self.config.admin_scope.is_none() {
            return AdminReply::Problem(Problem::new(
                404,
                "Not found",
                "admin_disabled",
                "The admin API is not enabled (no ADMIN_TOKEN).",
            ));
        }
        let parts = RequestParts {
            method: req.method,
            path: req.path,
            headers,
            origin: "",
            entropy: [0; 16],
        };
        let caller = match extract(parts.header("authorization"), None) {
            Err(m) => return AdminReply::Problem(Problem::invalid_request(m.reason(), m.detail())),
            Ok(Extracted::None | Extracted::UnsupportedScheme) => AdminCaller::Anonymous,
            Ok(Extracted::One(p)) => {
                if admin_token.is_some_and(|t| admin_token_matches(p.token, t)) {
                    AdminCaller::Admin
                } else if looks_like_jwt(p.token) {
                    match self
                        .jwt
                        .authenticate(p.token, ports.documents, ports.verifier, now)
                        .await
                    {
                        Ok(success) => {
                            let id = success.identity;
                            if self
                                .config
                                .admin_scope
                                .as_ref()
                                .is_some_and(|s| id.scopes.contains(s))
                            {
                                AdminCaller::Admin
                            } else {
                                AdminCaller::User {
                                    subject: id.subject,
                                    scopes: id.scopes,
                                }
                            }
                        }
                        Err(JwtFailure::Invalid { reason }) => {
                            return AdminReply::Problem(Problem::invalid_token(
                                reason,
                                "The token is not valid.",
                            ))
                        }
                        Err(JwtFailure::Unavailable {
                            reason,
                            retry_after,
                        }) => {
                            return AdminReply::Problem(Problem::unavailable(
                                reason,
                                retry_after,
                                "The token issuer's keys cannot be fetched right now.",
                            ))
                        }
                    }
                } else {
                    return AdminReply::Problem(Problem::invalid_token(
                        "bad_admin_token",
                        "The admin token is not valid.",
                    ));
                }
            }
        };
        let mut ctx = AdminContext {
            settings: &self.config.keys,
            cache: &self.keys,
            now,
            fill,
        };
        admin::handle(req, &caller, &mut ctx, ports.store).await
    }
}

impl<K> Gateway<K> {
    /// The signing input of `X-Auth-Assertion`, when an assertion key is configured.
    fn assertion_input(
        &self,
        req: &RequestParts<'_>,
        identity: Option<&Identity>,
        now: UnixTime,
    ) -> Option<String> {
        let signer = self.config.assertion_signer.as_ref()?;
        let settings = &self.config.assertion;
        let target_origin = self
            .config
            .origin
            .as_ref()
            .map(crate::config::Origin::as_str);
        let iss = settings.issuer.as_deref().unwrap_or(req.origin);
        let aud = settings
            .audience
            .as_deref()
            .or(target_origin)
            .unwrap_or(req.origin);
        let claims =
            AssertionClaims::new(identity, iss, aud, now, settings.ttl_seconds, &req.entropy);
        signer.signing_input(&claims)
    }

    /// `X-Auth-Claims`: the verified JWT payload as base64url JSON, when enabled and small enough.
    fn claims_header(&self, identity: Option<&Identity>) -> Option<(String, String)> {
        if !self.config.forward.claims {
            return None;
        }
        let json = identity?.claims_json.as_deref()?;
        if json.len() > self.config.forward.claims_max_bytes {
            return None;
        }
        Some((
            "X-Auth-Claims".to_string(),
            Base64UrlUnpadded::encode_string(json.as_bytes()),
        ))
    }
}

/// Three dot-separated, non-empty segments: the shape of a JWS compact serialisation.
fn looks_like_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    let shape = (parts.next(), parts.next(), parts.next(), parts.next());
    matches!(shape, (Some(a), Some(b), Some(_), None) if !a.is_empty() && !b.is_empty())
}

/// Map the segments after `admin_path` to an endpoint. `raw_path` keeps the console's sub-path.
fn own_endpoint(rest: &[String], raw_path: &str) -> OwnEndpoint {
    match rest.first().map(String::as_str) {
        None => OwnEndpoint::NotFound,
        Some("health") if rest.len() == 1 => OwnEndpoint::Health,
        Some("jwks.json") if rest.len() == 1 => OwnEndpoint::Jwks,
        Some("console") => {
            // `{admin_path}/console` without the slash: empty, so the adapter redirects (the
            // page's relative asset URLs need the trailing slash).
            if rest.len() == 1 && !raw_path.ends_with('/') {
                return OwnEndpoint::Console(String::new());
            }
            let mut sub = String::new();
            for seg in rest.iter().skip(1) {
                sub.push('/');
                sub.push_str(seg);
            }
            if sub.is_empty() {
                sub.push('/');
            }
            OwnEndpoint::Console(sub)
        }
        Some("keys" | "pats") => {
            let mut sub = String::new();
            for seg in rest {
                sub.push('/');
                sub.push_str(seg);
            }
            OwnEndpoint::Api(sub)
        }
        Some(_) => OwnEndpoint::NotFound,
    }
}
