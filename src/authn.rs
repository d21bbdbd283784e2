//! The request pipeline: sanitise → route → extract → verify → authorise → header plan.
//! Generic over one bundle of ports ([`crate::ports::Runtime`]), so it runs natively against fakes and in the Worker against KV, fetch
//! and WebCrypto. It returns a [`Decision`]; it never forwards or answers anything itself.

use base64ct::{Base64UrlUnpadded, Encoding};

use crate::admin::{self, AdminCaller, AdminContext, AdminReply, AdminRequest};
use crate::assertion::AssertionClaims;
use crate::config::Config;
use crate::extract::{extract, CredentialSource, Extracted, Presented};
use crate::failures::{FailureBudget as FailureLimit, FailureClass};
use crate::headers::{
    client_ip, edge_forwarding_headers, identity_headers, is_own_hop, plan_forward, ClientFacts,
    Forwarding,
};
use crate::identity::{CredentialKind, Identity};
use crate::jwt::{JwksRefresh, JwtAuthenticator, JwtFailure, KeySource};
use crate::keys::{KeyAuthFailure, KeyAuthenticator, KeyKind, Recent, Touch};
pub use crate::ports::Ports;
use crate::ports::{Authority, Runtime, KV_BINDING};
use crate::problem::Problem;
use crate::reason::Reason;
use crate::rejection::{CredentialRefusal, Dependency, Rejection};
use crate::route::{AuthMode, NormalizedPath, Requirement};
use crate::state::feed::ViewRefusal;
use crate::state::{Actor, RevocationView};
use crate::time::UnixTime;

/// The parts of a request the core looks at.
#[derive(Clone, Copy, Debug)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The URL path, still percent-encoded, without the query.
    pub path: &'a str,
    /// The query without `?`, forwarded byte for byte; `None` when the URL has no `?`.
    pub query: Option<&'a str>,
    /// Every request header, as received.
    pub headers: &'a [(String, String)],
    /// The request's own origin (`https://edge.example`): the assertion's default `iss`, and
    /// the forwarding target in route mode.
    pub origin: &'a str,
    /// 16 bytes from the CSPRNG for the assertion's `jti` (zeros when no assertion is signed).
    pub entropy: [u8; 16],
    /// The edge's id for this request (the assertion's `rid`, the problem's `request_id`).
    pub request_id: &'a str,
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

/// Whether an `OPTIONS` request is what a browser sends as a CORS preflight (Fetch standard,
/// §4.8): never a credential, never a body. One that carries either is no preflight, whatever
/// its `Access-Control-Request-Method` says, and is decided as a plain `OPTIONS` request; let
/// through as one, it would forward an unchecked credential (on a `forward_credentials` route)
/// and a body to the origin.
fn is_browser_preflight(req: &RequestParts<'_>) -> bool {
    let has_body = req.header("transfer-encoding").is_some()
        || req
            .header("content-length")
            .is_some_and(|v| v.trim() != "0");
    !has_body && req.header("authorization").is_none() && req.header("x-api-key").is_none()
}

/// An endpoint of the Worker itself, under `admin_path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnEndpoint {
    /// `GET {admin_path}/health`
    Health,
    /// `GET {admin_path}/jwks.json`
    Jwks,
    /// `GET {admin_path}/openapi.json`: the OpenAPI 3.1 document of these endpoints.
    OpenApi,
    /// `{admin_path}/console/…`: the static console; the rest of the path (`/` for the index).
    Console(String),
    /// A permanent redirect to this path (`{admin_path}/console` → `{admin_path}/console/`,
    /// built from the configured admin path, so never a scheme-relative `//…`).
    Redirect(String),
    /// `{admin_path}/keys…` and `{admin_path}/pats…`: the path after `admin_path`.
    Api(String),
    /// Anything else under `admin_path`.
    NotFound,
}

/// What the adapter found out about the key store for the health endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvProbe {
    /// `AUTH_KV` is bound.
    pub bound: bool,
    /// A read of a fixed key answered within the timeout; `None` when unbound (not tried).
    pub answering: Option<bool>,
}

/// One dependency that is not usable, in the health report.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HealthProblem {
    /// `kv` or `issuer`.
    pub dependency: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// `kv_not_bound`, `kv_not_answering`, or the issuer's last fetch failure.
    pub reason: Reason,
}

/// `GET {admin_path}/health`: `status` is `ok` only when every dependency is usable, else
/// `degraded` (answered 200 either way: the edge itself is up; 500 is for an invalid config).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HealthReport {
    pub status: &'static str,
    pub version: &'static str,
    pub config_loaded: bool,
    pub kv: HealthKv,
    pub issuers: Vec<crate::jwks::cache::IssuerHealth>,
    pub assertion: &'static str,
    pub admin_api: &'static str,
    /// The state tier (`AUTH_STATE`): bound or not, and this isolate's revocation view.
    pub state: HealthState,
    pub problems: Vec<HealthProblem>,
}

/// The `state` member of the health report.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HealthState {
    pub bound: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view: Option<crate::state::feed::ViewHealth>,
}

impl HealthReport {
    /// With `AUTH_STATE` bound: the view's facts, and a problem when it is older than the bound
    /// (requests that need it are then refused or served as `revocation.on_stale` says).
    #[must_use]
    pub fn with_state(mut self, view: &RevocationView, now_ms: u64) -> Self {
        let health = view.health(now_ms);
        let bound_ms = view.settings().max_staleness_ms;
        if health.age_ms.is_none_or(|a| a > bound_ms) || health.overflow {
            self.problems.push(HealthProblem {
                dependency: "state",
                issuer: None,
                reason: health.last_error.unwrap_or(Reason::RevocationViewStale),
            });
            self.status = "degraded";
        }
        self.state = HealthState {
            bound: true,
            view: Some(health),
        };
        self
    }
}

/// The `kv` member of the health report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HealthKv {
    pub bound: bool,
    pub answering: Option<bool>,
}

/// The version `/_auth/health` reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What to do with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Forward to the origin with exactly the headers `plan` leaves and adds.
    Forward {
        /// The URL to send the request to: the forwarding target's origin, the canonical path
        /// the routes matched, and the query byte for byte.
        target: String,
        /// The edits from the incoming headers to the forwarded ones; only
        /// [`crate::headers::plan_forward`] makes one.
        plan: crate::headers::ForwardPlan,
        /// The verified caller; `None` on public routes and anonymous optional-route requests.
        identity: Option<Identity>,
        /// True when the route is public (no identity headers or assertion).
        public: bool,
        /// When an assertion key is configured (and the route is not public): the assertion's
        /// signing input. The adapter signs it and adds `X-Auth-Assertion: <input>.<signature>`;
        /// it must not forward the request if signing fails.
        assertion: Option<String>,
        /// `RateLimit-Policy` and `RateLimit` for the response, when the request was limited.
        rate_limit: Option<Box<(String, String)>>,
        /// Credits to give back if the origin fails (`usage.charge: success`): the adapter
        /// passes the origin's status to [`Gateway::settle`].
        refund: Option<Box<crate::limits::lease::RefundClaim>>,
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
    /// Renew leases ahead of need: send these calls ([`Authority::lease`]) and
    /// [`Gateway::install_leases`] the answers.
    RenewLeases(crate::limits::lease::Calls),
}

/// Facts for the decision log line. No credential, hash or secret can be put here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogFacts {
    pub reason: Option<Reason>,
    /// The matched route's index in `routes`.
    pub route: Option<usize>,
    /// The matched route's `path` pattern as configured (`/v1/**`).
    pub route_path: Option<String>,
    pub kind: Option<CredentialKind>,
    pub subject: Option<String>,
    pub key_id: Option<String>,
    /// The verified issuer; for a refused JWT that parsed, its unverified `iss` (cut to 256
    /// characters); for an issuer whose keys cannot be fetched, the configured `issuer`.
    pub issuer: Option<String>,
    /// The token's `kid` (unverified for a refused JWT that parsed).
    pub kid: Option<String>,
    /// The issuer's configured JWKS (or discovery) URL, when its keys cannot be fetched.
    pub jwks_uri: Option<String>,
    /// The binding at fault (`AUTH_KV` for `kv_not_bound`).
    pub binding: Option<&'static str>,
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
            reason: Some(problem.reason),
            ..log
        };
        Outcome {
            decision: Decision::Reject(problem),
            followups: Vec::new(),
            log,
        }
    }
}

/// How long a request pauses while another request's lease call is on its way.
const WAIT_MS: u32 = 10;

/// A request past routing: what every later step reads (the request, its canonical path, the
/// route it matched, the client address, the time).
#[derive(Clone, Copy)]
struct Routed<'a> {
    req: &'a RequestParts<'a>,
    path: &'a NormalizedPath,
    route: &'a Requirement,
    ip: Option<&'a str>,
    now: UnixTime,
}

/// A verified credential: who, the work to run after, and a key's own limits and credits.
type Verified = (Identity, Vec<Followup>, Option<crate::limits::KeyQuota>);

/// Per-isolate state: the validated config and the caches that outlive a request.
pub struct Gateway<K> {
    pub config: Config,
    pub keys: KeyAuthenticator,
    pub jwt: JwtAuthenticator<K>,
    /// Recent revocations, as the authority's feed last said (used when `AUTH_STATE` is bound).
    pub view: RevocationView,
    /// Failed admin authentications not yet reported to the audit log.
    pub auth_failures: crate::state::FailureBudget,
    /// Failed authentications per client address: spent before any lookup (`src/failures.rs`).
    pub failures: FailureLimit,
    /// Leased capacity of rate limits and credits (`src/limits/lease.rs`).
    pub limits: crate::limits::lease::LeaseBook,
}

impl<K: Clone> Gateway<K> {
    #[must_use]
    pub fn new(config: Config) -> Self {
        let keys = KeyAuthenticator::new(config.keys.clone());
        let jwt = JwtAuthenticator::new(config.issuers.clone(), config.jwks.clone());
        let view = RevocationView::new(config.revocation);
        let config_failed_auth = config.failed_auth;
        let limits = crate::limits::lease::LeaseBook::new(config.usage);
        Gateway {
            limits,
            config,
            keys,
            jwt,
            view,
            auth_failures: crate::state::FailureBudget::default(),
            failures: FailureLimit::new(config_failed_auth),
        }
    }

    /// Decide what to do with one request.
    pub async fn decide<R: Runtime<Key = K>>(
        &self,
        req: RequestParts<'_>,
        ports: R,
        now: UnixTime,
    ) -> Outcome {
        let mut outcome = self.decide_plain(req, ports, now).await;
        if self.config.debug.explain_rejections {
            if let Decision::Reject(problem) = outcome.decision {
                outcome.decision = Decision::Reject(problem.explained());
            }
        }
        outcome
    }

    async fn decide_plain<R: Runtime<Key = K>>(
        &self,
        req: RequestParts<'_>,
        ports: R,
        now: UnixTime,
    ) -> Outcome {
        let mut log = LogFacts::default();
        let path = match NormalizedPath::parse_with(req.path, self.config.forward.path_rules) {
            Ok(p) => p,
            Err(e) => return Outcome::reject(Problem::bad_path(e), log),
        };
        if let Some(problem) = self.misdirected(&req) {
            return Outcome::reject(problem, log);
        }

        if let Some(rest) = path.strip_prefix(&self.config.admin_path) {
            let endpoint = own_endpoint(rest, path.canonical(), &self.config.admin_path_text);
            log.reason = Some(Reason::OwnEndpoint);
            return Outcome {
                decision: Decision::Own(endpoint),
                followups: Vec::new(),
                log,
            };
        }
        // The edge's own endpoints answer anywhere; only a forward could call the edge itself.
        if let Some(problem) = self.forward_would_loop(&req) {
            return Outcome::reject(problem, log);
        }

        // Route methods are upper case and compared exactly, but the Fetch standard upper-cases
        // only six methods and Django, Flask and others upper-case every method: `patch` would
        // miss a `["PATCH"]` route, match a later one and still run as PATCH at the origin.
        if has_lowercase(req.method) {
            return Outcome::reject(Problem::method_not_uppercase(), log);
        }
        // The query is forwarded byte for byte, so an override in it would reach the origin.
        if crate::headers::query_names_method_override(req.query) {
            return Outcome::reject(Problem::method_override_in_query(), log);
        }

        // A CORS preflight asks about another method; it passes only where its route says so.
        // A lower-case method asked about (or a path whose route depends on letter case) is no
        // preflight the edge lets through: it is decided as a plain OPTIONS request below.
        if req.method == "OPTIONS" && is_browser_preflight(&req) {
            if let (Some(asked), Some(_)) = (
                req.header("access-control-request-method"),
                req.header("origin"),
            ) {
                let asked_route = if has_lowercase(asked) {
                    None
                } else {
                    self.config
                        .routes
                        .find_unambiguous(asked, &path)
                        .ok()
                        .flatten()
                };
                // A route written for OPTIONS itself before the asked method's route decides
                // the request: a preflight must not step around it.
                let options_first = |asked: &crate::route::Requirement| {
                    self.config
                        .routes
                        .find_unambiguous("OPTIONS", &path)
                        .ok()
                        .flatten()
                        .is_some_and(|o| o.route_index < asked.route_index)
                };
                if let Some(route) = asked_route.filter(|r| !options_first(r)) {
                    if route.cors_preflight {
                        log.route = Some(route.route_index);
                        log.route_path = Some(route.pattern.clone());
                        log.reason = Some(Reason::CorsPreflight);
                        // A preflight carries no credential and spends no limit.
                        let at = Routed {
                            req: &req,
                            path: &path,
                            route,
                            ip: None,
                            now,
                        };
                        return self.forward(
                            &at,
                            Grant::Public,
                            log,
                            Vec::new(),
                            crate::limits::lease::Ticket::default(),
                        );
                    }
                }
            }
        }

        let route = match self.config.routes.find_unambiguous(req.method, &path) {
            Ok(Some(route)) => route,
            Ok(None) => return Outcome::reject(Problem::no_route(), log),
            Err(_) => return Outcome::reject(Problem::path_case_ambiguous(), log),
        };
        log.route = Some(route.route_index);
        log.route_path = Some(route.pattern.clone());

        let ip = client_ip(req.headers);
        let at = Routed {
            req: &req,
            path: &path,
            route,
            ip,
            now,
        };
        if route.auth == AuthMode::Public {
            log.reason = Some(Reason::Public);
            return self
                .spend_and_forward(&at, Grant::Public, None, &ports, log, Vec::new())
                .await;
        }

        let presented = match extract(req.header("authorization"), req.header("x-api-key")) {
            Err(malformed) => {
                return Outcome::reject(Problem::from(Rejection::Malformed(malformed)), log)
            }
            Ok(Extracted::One(p)) => p,
            Ok(absent @ (Extracted::None | Extracted::UnsupportedScheme)) => {
                if route.auth == AuthMode::Optional {
                    log.reason = Some(Reason::Anonymous);
                    return self
                        .spend_and_forward(&at, Grant::Anonymous, None, &ports, log, Vec::new())
                        .await;
                }
                let problem = if absent == Extracted::UnsupportedScheme {
                    let basic = req
                        .header("authorization")
                        .and_then(|v| v.split([' ', '\t']).next())
                        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("basic"));
                    Problem::unsupported_scheme(basic)
                } else {
                    Problem::missing_credential()
                };
                return Outcome::reject(problem, log);
            }
        };

        let verified = self
            .verify(presented, route, &ports, now, ip, &mut log)
            .await;
        let (identity, followups, quota) = match verified {
            Ok(v) => v,
            Err(rejection) => return Outcome::reject(Problem::from(rejection), log),
        };
        if !route.accepts_issuer(identity.issuer()) {
            log.subject = Some(identity.subject().to_string());
            log.issuer
                .clone_from(&identity.issuer().map(str::to_string));
            let mut outcome = Outcome::reject(
                Problem::from(Rejection::Credential(CredentialRefusal::IssuerNotAccepted)),
                log,
            );
            outcome.followups = followups;
            return outcome;
        }
        log.subject = Some(identity.subject().to_string());
        log.key_id
            .clone_from(&identity.key_id().map(str::to_string));
        log.issuer
            .clone_from(&identity.issuer().map(str::to_string));
        log.kid.clone_from(&identity.kid().map(str::to_string));

        if !identity.has_scopes(&route.scopes) {
            let mut outcome = Outcome::reject(Problem::insufficient_scope(&route.scopes), log);
            outcome.followups = followups;
            return outcome;
        }
        log.reason = Some(Reason::Authenticated);
        self.spend_and_forward(
            &at,
            Grant::Verified(identity),
            quota.as_ref(),
            &ports,
            log,
            followups,
        )
        .await
    }

    /// Spend the route's (and the key's) limits and credits: leased capacity when this isolate
    /// holds some (no I/O), else one call to each counter's object (`src/limits/`).
    async fn spend<R: Runtime<Key = K>>(
        &self,
        route: &Requirement,
        identity: Option<&Identity>,
        quota: Option<&crate::limits::KeyQuota>,
        ip: Option<&str>,
        ports: &R,
    ) -> Result<crate::limits::lease::Ticket, Problem> {
        use crate::limits::lease::Admission;
        if route.limits.is_empty() && quota.is_none_or(crate::limits::KeyQuota::is_empty) {
            return Ok(crate::limits::lease::Ticket::default());
        }
        let who = crate::limits::Subject {
            // A rolled key spends its chain's counters, so a roll starts no fresh balance.
            key_id: quota
                .and_then(|q| q.meter.as_deref())
                .or_else(|| identity.and_then(|i| i.key_id())),
            client_id: identity.and_then(|i| i.client_id()),
            issuer: identity.and_then(|i| i.issuer()),
            subject: identity.map(|i| i.subject()),
            ip,
        };
        let plan = crate::limits::plan(&route.limits, route.cost, quota, &who);
        if plan.is_empty() {
            return Ok(crate::limits::lease::Ticket::default());
        }
        let Some(authority) = ports.authority() else {
            return Err(Problem::limits_need_state());
        };
        let mut asked = false;
        // One call (or a wait for another request's) suffices unless concurrent requests of
        // this isolate take what it brought. A request that has waited 32 × 10 ms for others'
        // calls makes its own; one that has made three calls is refused as contended rather
        // than held on.
        let (mut calls_made, mut waits) = (0u8, 0u8);
        while calls_made < 3 {
            let now = authority.now_ms();
            match self.limits.admit(&plan, now, asked, waits < 32) {
                Admission::Admitted(ticket) => return Ok(ticket),
                Admission::Refused(refusal) => return Err(Problem::over_limit(refusal)),
                Admission::Unavailable => return Err(Problem::limits_unavailable()),
                Admission::Wait => {
                    waits += 1;
                    authority.pause(WAIT_MS).await;
                }
                Admission::Need(calls, flight) => {
                    calls_made += 1;
                    asked = true;
                    let sent = authority.now_ms();
                    let answers = authority.lease(&calls).await;
                    let at = authority.now_ms();
                    let mut strict_refused = None;
                    for ((object, call), answer) in calls.iter().zip(answers) {
                        match answer {
                            Ok(reply) => {
                                let installed = self.limits.install(object, call, &reply, sent, at);
                                strict_refused = strict_refused.or(installed.strict_refused);
                            }
                            Err(_) => self.limits.failed(object, call, at),
                        }
                    }
                    drop(flight);
                    if let Some(retry_ms) = strict_refused {
                        return Err(Problem::over_limit(crate::limits::lease::Refusal {
                            credits: false,
                            retry_after: Some(retry_ms.div_ceil(1000).max(1)),
                            fields: self.limits.refusal_fields(&plan, at, retry_ms),
                        }));
                    }
                }
            }
        }
        Err(Problem::over_limit(crate::limits::lease::Refusal {
            credits: false,
            retry_after: Some(1),
            fields: self.limits.refusal_fields(&plan, authority.now_ms(), 1_000),
        }))
    }

    /// Install the answers to background renewals (a [`Followup::RenewLeases`]).
    pub fn install_leases<A: Authority>(
        &self,
        authority: &A,
        calls: &crate::limits::lease::Calls,
        sent_ms: u64,
        answers: Vec<Result<crate::limits::LeaseReply, crate::ports::StoreError>>,
    ) {
        let at = authority.now_ms();
        for ((object, call), answer) in calls.iter().zip(answers) {
            match answer {
                Ok(reply) => {
                    self.limits.install(object, call, &reply, sent_ms, at);
                }
                Err(_) => self.limits.failed(object, call, at),
            }
        }
    }

    /// The origin answered `status` (0: unreachable) to a request that spent credits under
    /// `usage.charge: success`: a failure's credits go back (the call to send, if any).
    #[must_use]
    pub fn settle(
        &self,
        claim: &crate::limits::lease::RefundClaim,
        status: u16,
    ) -> Option<crate::limits::lease::Calls> {
        self.limits.settle(claim, status).map(|call| vec![call])
    }

    /// Verify one presented credential against what the route accepts.
    async fn verify<R: Runtime<Key = K>>(
        &self,
        presented: Presented<'_>,
        route: &Requirement,
        ports: &R,
        now: UnixTime,
        ip: Option<&str>,
        log: &mut LogFacts,
    ) -> Result<Verified, Rejection> {
        let token = presented.token;
        if token.len() > crate::extract::MAX_CREDENTIAL_LEN {
            return Err(Rejection::Credential(CredentialRefusal::TooLarge));
        }
        let kind = match self.config.keys.format.classify(token) {
            Some(KeyKind::ApiKey) => CredentialKind::ApiKey,
            Some(KeyKind::Pat) => CredentialKind::Pat,
            None if looks_like_jwt(token) => CredentialKind::Jwt,
            None => return Err(Rejection::Credential(CredentialRefusal::Unrecognised)),
        };
        log.kind = Some(kind);
        if kind == CredentialKind::Jwt && presented.source == CredentialSource::ApiKeyHeader {
            return Err(Rejection::Credential(CredentialRefusal::JwtInApiKeyHeader));
        }
        if !route.accept.accepts(kind) {
            return Err(Rejection::Credential(CredentialRefusal::KindNotAccepted {
                kind,
                accepted: route.accept,
            }));
        }
        // The failed-auth budget, before any lookup: an address that has failed too often is
        // refused without a KV read or a signature check, except for a key this isolate already
        // holds as valid.
        let class = if kind == CredentialKind::Jwt {
            FailureClass::Jwt
        } else {
            FailureClass::Key
        };
        if let Some(ip) = ip {
            if let Err(retry) = self.failures.check(ip, class, now.0) {
                if class == FailureClass::Jwt || !self.keys.holds_found(token, now) {
                    return Err(Rejection::TooManyFailures { retry_after: retry });
                }
            }
        }
        let result = self.verify_kind(kind, token, ports, now, log).await;
        if let (Err(rejection), Some(ip)) = (&result, ip) {
            if rejection.is_credential_fault() {
                self.failures.failed(ip, class, now.0);
            }
        }
        result
    }

    async fn verify_kind<R: Runtime<Key = K>>(
        &self,
        kind: CredentialKind,
        token: &str,
        ports: &R,
        now: UnixTime,
        log: &mut LogFacts,
    ) -> Result<Verified, Rejection> {
        match kind {
            CredentialKind::Jwt => {
                match self
                    .jwt
                    .authenticate(token, ports.documents(), ports.verifier(), now)
                    .await
                {
                    Ok(success) => {
                        self.confirm(&success.identity, None, ports, now)?;
                        let followups = success
                            .refresh
                            .into_iter()
                            .map(Followup::RefreshJwks)
                            .collect();
                        Ok((success.identity, followups, None))
                    }
                    Err(failure) => {
                        let (iss, kid) = crate::jwt::unverified_hints(token);
                        log.kid = kid;
                        let policy = iss.as_deref().and_then(|i| self.jwt.issuers().get(i));
                        match failure {
                            JwtFailure::Invalid { .. } | JwtFailure::NotBound => log.issuer = iss,
                            JwtFailure::Unavailable { .. } => match policy {
                                // The token named a configured issuer (its keys were looked
                                // up): the problem names that configured string, never the URL.
                                Some(p) => {
                                    log.issuer = Some(p.issuer.clone());
                                    log.jwks_uri = p.key_source.as_ref().map(|k| match k {
                                        KeySource::JwksUri(u) | KeySource::Discovery(u) => {
                                            u.clone()
                                        }
                                    });
                                }
                                None => log.issuer = iss,
                            },
                        }
                        Err(Rejection::from_jwt(
                            failure,
                            policy.map(|p| p.issuer.as_str()),
                        ))
                    }
                }
            }
            CredentialKind::ApiKey | CredentialKind::Pat => {
                let expected = if kind == CredentialKind::Pat {
                    KeyKind::Pat
                } else {
                    KeyKind::ApiKey
                };
                let recent = ports.authority().map(|authority| Recent {
                    view: &self.view,
                    authority,
                });
                match self
                    .keys
                    .authenticate(
                        ports.store(),
                        recent,
                        token,
                        Some(expected),
                        self.config.sole_issuer(),
                        now,
                    )
                    .await
                {
                    Ok(success) => {
                        self.confirm(&success.identity, Some(success.created_at), ports, now)?;
                        let followups = success.touch.into_iter().map(Followup::TouchKey).collect();
                        Ok((success.identity, followups, success.quota))
                    }
                    Err(failure) => {
                        if failure == KeyAuthFailure::NotBound {
                            log.binding = Some(KV_BINDING);
                        }
                        Err(Rejection::from_key(failure))
                    }
                }
            }
        }
    }

    /// With the state tier: a positive verdict (from KV, a cache, or a signature) stands only if
    /// the revocation view, fresh within the bound, does not overturn it.
    fn confirm<R: Runtime<Key = K>>(
        &self,
        identity: &Identity,
        created_at: Option<u64>,
        ports: &R,
        now: UnixTime,
    ) -> Result<(), Rejection> {
        if ports.authority().is_none() {
            return Ok(());
        }
        match self.view.check(identity, created_at, now.0, ports.now_ms()) {
            Ok(()) => Ok(()),
            Err(ViewRefusal::Revoked(reason)) => Err(Rejection::Revoked(reason)),
            Err(ViewRefusal::Stale) => Err(Rejection::Unavailable {
                dependency: Dependency::Revocations,
                reason: Reason::RevocationsUnconfirmed,
                retry_after: 1,
            }),
        }
    }

    /// Spend the request's limits and credits ([`Gateway::spend`]), then [`Gateway::forward`]
    /// with what they granted; a refusal is the answer.
    async fn spend_and_forward<R: Runtime<Key = K>>(
        &self,
        at: &Routed<'_>,
        grant: Grant,
        quota: Option<&crate::limits::KeyQuota>,
        ports: &R,
        log: LogFacts,
        followups: Vec<Followup>,
    ) -> Outcome {
        let Routed { route, ip, .. } = *at;
        let identity = match &grant {
            Grant::Verified(identity) => Some(identity),
            Grant::Public | Grant::Anonymous => None,
        };
        match self.spend(route, identity, quota, ip, ports).await {
            Ok(ticket) => self.forward(at, grant, log, followups, ticket),
            Err(problem) => {
                let mut outcome = Outcome::reject(problem, log);
                outcome.followups = followups;
                outcome
            }
        }
    }

    fn forward(
        &self,
        at: &Routed<'_>,
        grant: Grant,
        log: LogFacts,
        mut followups: Vec<Followup>,
        ticket: crate::limits::lease::Ticket,
    ) -> Outcome {
        let Routed {
            req,
            path,
            route,
            now,
            ..
        } = *at;
        if !ticket.renewals.is_empty() {
            followups.push(Followup::RenewLeases(ticket.renewals));
        }
        let (identity, public) = match grant {
            Grant::Public => (None, true),
            Grant::Anonymous => (None, false),
            Grant::Verified(identity) => (Some(identity), false),
        };
        let base = self.target_origin(req);
        let mut target = String::with_capacity(base.len() + path.canonical().len() + 1);
        target.push_str(base);
        target.push_str(path.canonical());
        let htu_len = target.len();
        if let Some(q) = req.query {
            target.push('?');
            target.push_str(q);
        }
        let mut set = if public {
            Vec::new()
        } else {
            identity_headers(identity.as_ref())
        };
        let assertion = if public {
            None
        } else {
            set.extend(self.claims_header(identity.as_ref()));
            let htu = target.get(..htu_len).unwrap_or(&target);
            self.assertion_input(req, identity.as_ref(), htu, now)
        };
        let (proto, host) = split_origin(req.origin);
        let client = ClientFacts {
            ip: client_ip(req.headers),
            proto,
            host,
            hop: req.origin,
        };
        let trust_forwarded = self.config.forward.trust_forwarded_headers;
        set.extend(edge_forwarding_headers(
            req.headers,
            &client,
            trust_forwarded,
        ));
        let forwarding = Forwarding {
            forward_credentials: route.forward_credentials,
            trust_forwarded,
        };
        let plan = match plan_forward(req.headers, &forwarding, set) {
            Ok(plan) => plan,
            Err(crate::headers::Unsendable) => {
                let mut outcome = Outcome::reject(Problem::origin_request_invalid(), log);
                outcome.followups = followups;
                return outcome;
            }
        };
        Outcome {
            decision: Decision::Forward {
                target,
                plan,
                identity,
                public,
                assertion,
                rate_limit: ticket.fields.map(Box::new),
                refund: ticket.refund.map(Box::new),
            },
            followups,
            log,
        }
    }

    /// Where requests go: the configured origin, or in route mode the request's own origin.
    fn target_origin<'r>(&'r self, req: &RequestParts<'r>) -> &'r str {
        self.config
            .origin
            .as_ref()
            .map_or(req.origin, crate::config::Origin::as_str)
    }

    /// A request this edge must not handle: for a host it was not configured for, or one that
    /// has already passed through it (a forwarding loop).
    fn misdirected(&self, req: &RequestParts<'_>) -> Option<Problem> {
        let (_, host) = split_origin(req.origin);
        if let Some(hosts) = &self.config.hosts {
            if !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
                return Some(Problem::host_not_allowed());
            }
        }
        if is_own_hop(req.headers, req.origin) {
            return Some(Problem::forwarding_loop());
        }
        None
    }

    /// In route mode, a host with no origin behind the Worker (loopback under `wrangler dev`,
    /// `workers.dev`): forwarding to the request's own URL would call the edge itself.
    fn forward_would_loop(&self, req: &RequestParts<'_>) -> Option<Problem> {
        let (_, host) = split_origin(req.origin);
        (self.config.origin.is_none() && has_no_origin_behind(host))
            .then(Problem::route_mode_without_origin)
    }
}

/// `scheme://host[:port]` → (`scheme`, `host[:port]`). Split at the scheme's `:` and then
/// `//`: a `&str` pattern (`split_once("://")`) builds a two-way searcher per call, which showed
/// in a forwarded request's profile (~0.3 µs each, two calls per request, 2026-12-02). The origin
/// comes from `RequestUrl::parse`, so its first `:` ends the scheme.
fn split_origin(origin: &str) -> (&str, &str) {
    origin
        .split_once(':')
        .and_then(|(scheme, rest)| Some((scheme, rest.strip_prefix("//")?)))
        .unwrap_or(("https", origin))
}

/// Hosts where a Worker's fetch of its own URL reaches the Worker again rather than an origin
/// server: loopback (`wrangler dev`) and `workers.dev`.
fn has_no_origin_behind(host: &str) -> bool {
    let name = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.starts_with("127.")
        || name == "[::1]"
        || name == "workers.dev"
        || name.ends_with(".workers.dev")
}

impl<K: Clone> Gateway<K> {
    /// Who is calling the admin API: the admin (by `ADMIN_TOKEN` or an admin-scoped JWT), a
    /// user (a verified JWT), or nobody; with the audit log's [`Actor`]. A refusal is the reply.
    /// With the state tier (`ports.authority()`), a verified JWT must also pass the revocation
    /// view, as on every other route: the caller keeps the view current
    /// ([`crate::state::ViewPlan`]), and a view past its bound refuses (503) rather than let a
    /// revoked token through.
    pub async fn admin_caller<R: Runtime<Key = K>>(
        &self,
        path: &str,
        headers: &[(String, String)],
        ports: &R,
        now: UnixTime,
    ) -> Result<(AdminCaller, Actor), AdminReply> {
        let admin_only = ["/keys", "/principals", "/tokens", "/audit"]
            .iter()
            .any(|p| path.starts_with(p));
        let admin_token = self.config.admin_token.as_ref();
        if admin_only && admin_token.is_none() && self.config.admin_scope.is_none() {
            return Err(AdminReply::Problem(Problem::admin_disabled()));
        }
        let authorization = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.as_str());
        match extract(authorization, None) {
            Err(m) => Err(AdminReply::Problem(Rejection::Malformed(m).into())),
            Ok(Extracted::None | Extracted::UnsupportedScheme) => {
                Ok((AdminCaller::Anonymous, Actor::Anonymous))
            }
            Ok(Extracted::One(p)) => {
                let ip = client_ip(headers);
                let jwt = looks_like_jwt(p.token);
                // The right admin token always works (comparing it is one hash); only a wrong
                // one is subject to the failed-auth budget, as is a JWT before its check.
                if admin_token.is_some_and(|t| t.matches(p.token)) {
                    return Ok((AdminCaller::Admin, Actor::AdminToken));
                }
                let class = if jwt {
                    FailureClass::Jwt
                } else {
                    FailureClass::Admin
                };
                if let Some(ip) = ip {
                    if let Err(retry) = self.failures.check(ip, class, now.0) {
                        return Err(AdminReply::Problem(
                            Rejection::TooManyFailures { retry_after: retry }.into(),
                        ));
                    }
                }
                if !jwt {
                    if let Some(ip) = ip {
                        self.failures.failed(ip, FailureClass::Admin, now.0);
                    }
                    return Err(AdminReply::Problem(Rejection::BadAdminToken.into()));
                }
                let verified = match self
                    .jwt
                    .authenticate(p.token, ports.documents(), ports.verifier(), now)
                    .await
                {
                    // With the state tier, a revoked token (its `jti`, or its principal cut off)
                    // is refused here as on every other route: the admin API is no way around a
                    // revocation (a PAT minted by a revoked JWT would outlive it).
                    Ok(success) => self
                        .confirm(&success.identity, None, ports, now)
                        .map(|()| success.identity),
                    Err(failure) => {
                        let (iss, _) = crate::jwt::unverified_hints(p.token);
                        let issuer = iss.as_deref().and_then(|i| self.jwt.issuers().get(i));
                        Err(Rejection::from_jwt(
                            failure,
                            issuer.map(|p| p.issuer.as_str()),
                        ))
                    }
                };
                let id = match verified {
                    Ok(id) => id,
                    Err(rejection) => {
                        if let (true, Some(ip)) = (rejection.is_credential_fault(), ip) {
                            self.failures.failed(ip, FailureClass::Jwt, now.0);
                        }
                        return Err(AdminReply::Problem(rejection.into()));
                    }
                };
                // A scope is only as trusted as its issuer.
                let is_admin = self.config.admin_scope.as_ref().is_some_and(|a| {
                    id.issuer() == Some(a.issuer.as_str()) && id.scopes().contains(&a.scope)
                });
                let subject = id.subject().to_string();
                match (is_admin, id.issuer().map(str::to_string)) {
                    (true, Some(issuer)) => {
                        Ok((AdminCaller::Admin, Actor::AdminJwt { issuer, subject }))
                    }
                    (false, Some(issuer)) => Ok((
                        AdminCaller::User {
                            issuer: issuer.clone(),
                            subject: subject.clone(),
                            scopes: id.scopes().to_vec(),
                        },
                        Actor::User { issuer, subject },
                    )),
                    // Verified JWTs always carry their issuer.
                    (_, None) => Ok((AdminCaller::Anonymous, Actor::Anonymous)),
                }
            }
        }
    }

    pub async fn admin<R: Runtime<Key = K>>(
        &self,
        req: AdminRequest<'_>,
        headers: &[(String, String)],
        ports: R,
        now: UnixTime,
        fill: &mut crate::ports::Fill<'_>,
    ) -> AdminReply {
        let caller = match self.admin_caller(req.path, headers, &ports, now).await {
            Ok((caller, _)) => caller,
            Err(reply) => return reply,
        };
        let is_issuer = |iss: &str| self.config.issuers.get(iss).is_some();
        let mut ctx = AdminContext {
            settings: &self.config.keys,
            sole_issuer: self.config.sole_issuer(),
            is_issuer: &is_issuer,
            cache: self.keys.cache(),
            now,
            fill,
            changes: Vec::new(),
            state_tier: false,
        };
        admin::handle(req, &caller, &mut ctx, ports.store()).await
    }
}

impl<K: Clone> Gateway<K> {
    /// The health report at `now`, from the adapter's KV probe and this isolate's JWKS cache
    /// (no I/O here: an issuer not fetched yet is `empty`, not a problem).
    #[must_use]
    pub fn health(&self, kv: KvProbe, now: UnixTime) -> HealthReport {
        let issuers = self.jwt.health(now);
        let mut problems = Vec::new();
        if !kv.bound {
            problems.push(HealthProblem {
                dependency: "kv",
                issuer: None,
                reason: Reason::KvNotBound,
            });
        } else if kv.answering != Some(true) {
            problems.push(HealthProblem {
                dependency: "kv",
                issuer: None,
                reason: Reason::KvNotAnswering,
            });
        }
        for i in issuers.iter().filter(|i| !i.usable()) {
            problems.push(HealthProblem {
                dependency: "issuer",
                issuer: Some(i.issuer.clone()),
                reason: i.last_error.unwrap_or(Reason::JwksUnavailable),
            });
        }
        let enabled = |on: bool| if on { "enabled" } else { "disabled" };
        HealthReport {
            status: if problems.is_empty() {
                "ok"
            } else {
                "degraded"
            },
            version: VERSION,
            config_loaded: true,
            kv: HealthKv {
                bound: kv.bound,
                answering: if kv.bound { kv.answering } else { None },
            },
            issuers,
            assertion: enabled(self.config.assertion_signer.is_some()),
            admin_api: enabled(
                self.config.admin_token.is_some() || self.config.admin_scope.is_some(),
            ),
            state: HealthState {
                bound: false,
                view: None,
            },
            problems,
        }
    }
}

impl<K> Gateway<K> {
    /// The signing input of `X-Auth-Assertion`, when an assertion key is configured: bound to
    /// this request by `htm`, `htu` (the forwarded URL without its query), `rid` and, for a
    /// forwarded body, its declared `content_length`.
    fn assertion_input(
        &self,
        req: &RequestParts<'_>,
        identity: Option<&Identity>,
        htu: &str,
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
        let mut claims =
            AssertionClaims::new(identity, iss, aud, now, settings.ttl_seconds, &req.entropy);
        claims.htm = req.method;
        claims.htu = htu;
        claims.rid = req.request_id;
        // The body is forwarded for every method but GET and HEAD (see the adapter).
        if req.method != "GET" && req.method != "HEAD" {
            claims.content_length = req
                .header("content-length")
                .and_then(|v| v.trim().parse::<u64>().ok());
        }
        signer.signing_input(&claims)
    }

    /// `X-Auth-Claims`: the verified JWT payload as base64url JSON, when enabled and small enough.
    fn claims_header(&self, identity: Option<&Identity>) -> Option<(String, String)> {
        if !self.config.forward.claims {
            return None;
        }
        let json = identity?.claims_json()?;
        if json.len() > self.config.forward.claims_max_bytes {
            return None;
        }
        Some((
            "X-Auth-Claims".to_string(),
            Base64UrlUnpadded::encode_string(json.as_bytes()),
        ))
    }
}

/// True when `method` holds an ASCII lower-case letter (`patch`, `Get`).
fn has_lowercase(method: &str) -> bool {
    method.bytes().any(|b| b.is_ascii_lowercase())
}

/// Three dot-separated, non-empty segments: the shape of a JWS compact serialisation.
fn looks_like_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    let shape = (parts.next(), parts.next(), parts.next(), parts.next());
    matches!(shape, (Some(a), Some(b), Some(_), None) if !a.is_empty() && !b.is_empty())
}

/// Map the segments after `admin_path` to an endpoint. `raw_path` keeps the console's sub-path.
fn own_endpoint(rest: &[String], canonical_path: &str, admin_path: &str) -> OwnEndpoint {
    match rest.first().map(String::as_str) {
        None => OwnEndpoint::NotFound,
        Some("health") if rest.len() == 1 => OwnEndpoint::Health,
        Some("jwks.json") if rest.len() == 1 => OwnEndpoint::Jwks,
        Some("openapi.json") if rest.len() == 1 => OwnEndpoint::OpenApi,
        Some("console") => {
            // `{admin_path}/console` without the slash: empty, so the adapter redirects (the
            // page's relative asset URLs need the trailing slash).
            if rest.len() == 1 && !canonical_path.ends_with('/') {
                return OwnEndpoint::Redirect(format!("{admin_path}/console/"));
            }
            // The assets directory also holds the OpenAPI document (`www/openapi.json`), served
            // at `{admin_path}/openapi.json` only: the console serves its own files.
            if rest.len() == 2 && rest.get(1).map(String::as_str) == Some("openapi.json") {
                return OwnEndpoint::NotFound;
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
        Some("keys" | "pats" | "principals" | "tokens" | "audit") => {
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

#[cfg(test)]
mod tests {
    use super::split_origin;

    #[test]
    fn split_origin_separates_scheme_and_authority() {
        assert_eq!(
            split_origin("https://edge.example"),
            ("https", "edge.example")
        );
        assert_eq!(
            split_origin("http://127.0.0.1:8787"),
            ("http", "127.0.0.1:8787")
        );
        assert_eq!(split_origin("http://[::1]:8787"), ("http", "[::1]:8787"));
        // Not an origin (RequestUrl::parse never yields one): read as an https host.
        assert_eq!(
            split_origin("edge.example:443"),
            ("https", "edge.example:443")
        );
        assert_eq!(split_origin("edge.example"), ("https", "edge.example"));
    }
}
