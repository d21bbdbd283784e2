//! The log's lines: the decision log's [`LogLine`] (one JSON line per request), the few other
//! lines the Worker writes (an origin that failed after its decision, a JWKS refresh that failed,
//! a JWKS that leaves algorithms unused, an invalid or suspicious config), and what makes a
//! serialised line safe to ship as one line.
//!
//! Owns the lines' field names and which fields are left out. Never sees a credential, its hash
//! or a secret: callers pass facts already free of them (see [`crate::authn::LogFacts`]), and no
//! field here could hold one. Never touches a clock or the logger itself: times are arguments,
//! and the adapter (`src/edge/log.rs`) only hands the finished text to the runtime.

use crate::reason::Reason;
use serde::Serialize;

use crate::authn::LogFacts;
use crate::config::{Config, ConfigError};
use crate::problem::Problem;

/// How much of a request's path a decision line keeps (characters).
const MAX_PATH_CHARS: usize = 512;

/// One JSON line per decision. Holds no credential, hash or secret.
#[derive(Clone, Debug, Serialize)]
pub struct LogLine {
    /// When the request arrived (Unix milliseconds, as the runtime's clock reads them), written
    /// as a whole number.
    #[serde(serialize_with = "whole_ms")]
    time: f64,
    request_id: String,
    method: String,
    path: String,
    /// `rejected`, `forwarded`, `origin_error` or `own`.
    outcome: &'static str,
    /// The edge's own answer; absent when forwarded (the origin answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<Reason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<usize>,
    /// The matched route's pattern as configured (`/v1/**`).
    #[serde(skip_serializing_if = "Option::is_none")]
    route_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    /// The configured JWKS (or discovery) URL of an issuer whose keys cannot be fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks_uri: Option<String>,
    /// The binding at fault (`AUTH_KV` for `kv_not_bound`).
    #[serde(skip_serializing_if = "Option::is_none")]
    binding: Option<&'static str>,
    /// Written as whole milliseconds: a Worker's clock does not advance while it computes (only
    /// across I/O), so no finer figure exists.
    #[serde(serialize_with = "whole_ms")]
    duration_ms: f64,
}

/// A time in milliseconds as a whole number, for readers that take `time` as an integer (a
/// JSON `1764700000593.0` does not fit an int64 column): truncated, 0 for a negative or NaN
/// figure.
fn ms(value: f64) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    // `as` saturates: NaN and negatives become 0, which is what a log line should say.
    let whole = value as u64;
    whole
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `serialize_with` passes a reference
fn whole_ms<S: serde::Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(ms(*value))
}

impl LogLine {
    /// The line of a request that arrived at `started` (its path cut to 512 characters).
    #[must_use]
    pub fn new(request_id: &str, method: &str, path: &str, started: f64) -> Self {
        LogLine {
            time: started,
            request_id: request_id.to_string(),
            method: method.to_string(),
            path: path.chars().take(MAX_PATH_CHARS).collect(),
            outcome: "",
            status: None,
            reason: None,
            route: None,
            route_path: None,
            kind: None,
            subject: None,
            key_id: None,
            issuer: None,
            kid: None,
            jwks_uri: None,
            binding: None,
            duration_ms: 0.0,
        }
    }

    /// What the pipeline found out.
    pub fn facts(&mut self, facts: &LogFacts) {
        self.reason = facts.reason;
        self.route = facts.route;
        self.route_path.clone_from(&facts.route_path);
        self.kind = facts.kind.map(|k| k.as_str());
        self.subject.clone_from(&facts.subject);
        self.key_id.clone_from(&facts.key_id);
        self.issuer.clone_from(&facts.issuer);
        self.kid.clone_from(&facts.kid);
        self.jwks_uri.clone_from(&facts.jwks_uri);
        self.binding = facts.binding;
    }

    /// Refused with `problem`: its status and reason.
    pub fn rejected(&mut self, problem: &Problem) {
        self.answered("rejected", problem);
    }

    /// Handed to the origin (which answers: no status).
    pub fn forwarded(&mut self) {
        self.outcome = "forwarded";
    }

    /// Answered by one of the edge's own endpoints with `status`.
    pub fn own(&mut self, status: u16) {
        self.outcome = "own";
        self.status = Some(status);
    }

    /// Done at `now_ms`: the time since the request arrived.
    pub fn finish(&mut self, now_ms: f64) {
        self.duration_ms = now_ms - self.time;
    }

    /// The line as one line of JSON text (`None` only if serialisation failed: nothing is logged).
    #[must_use]
    pub fn to_line(&self) -> Option<String> {
        serde_json::to_string(self).ok().map(escape_line_separators)
    }

    fn answered(&mut self, outcome: &'static str, problem: &Problem) {
        self.outcome = outcome;
        self.status = Some(problem.status);
        self.reason = Some(problem.reason);
    }
}

/// A forwarded request whose origin could not be reached (or whose assertion could not be
/// signed): a second line after its decision.
#[must_use]
pub fn origin_error_line(time: f64, request_id: &str, problem: &Problem) -> String {
    let line = serde_json::json!({
        "time": ms(time),
        "request_id": request_id,
        "outcome": "origin_error",
        "status": problem.status,
        "reason": problem.reason,
    });
    escape_line_separators(line.to_string())
}

/// A background JWKS refresh failed (stale keys are still served): the issuer, its configured
/// JWKS (or discovery) URL and the reason.
#[must_use]
pub fn refresh_failure_line(
    time: f64,
    issuer: &str,
    jwks_uri: Option<&str>,
    reason: Reason,
) -> String {
    let line = serde_json::json!({
        "time": ms(time),
        "outcome": "jwks_refresh_failed",
        "reason": reason,
        "issuer": issuer,
        "jwks_uri": jwks_uri,
    });
    escape_line_separators(line.to_string())
}

/// A fetched JWKS leaves some of the issuer's `algorithms` without a key.
#[must_use]
pub fn unused_algorithms_line(time: f64, note: &crate::jwks::cache::UnusedAlgorithms) -> String {
    let algorithms: Vec<&str> = note.algorithms.iter().map(|a| a.as_str()).collect();
    let line = serde_json::json!({
        "time": ms(time),
        "outcome": "jwks_unused_algorithms",
        "issuer": note.issuer,
        "unused_algorithms": algorithms,
    });
    escape_line_separators(line.to_string())
}

/// Which field of the config is wrong (an error line, once per isolate). The config's text and
/// its secrets are never in it: only the field's path and why.
#[must_use]
pub fn config_error_line(error: &ConfigError) -> String {
    let line = serde_json::json!({
        "level": "error",
        "event": "config_invalid",
        "field": error.field,
        "reason": error.reason,
    });
    escape_line_separators(line.to_string())
}

/// The config's warnings (valid but suspicious claim paths): a warning line each.
#[must_use]
pub fn config_warning_lines(config: &Config) -> Vec<String> {
    let mut lines = Vec::new();
    for (index, policy) in config.issuers.iter().enumerate() {
        for warning in policy.mapping.warnings() {
            let line = serde_json::json!({
                "level": "warn",
                "event": "config_warning",
                "warning": format!("issuers[{index}].{warning}"),
                "issuer": policy.issuer,
            });
            lines.push(escape_line_separators(line.to_string()));
        }
    }
    lines
}

/// The longest request id taken from `cf-ray`.
const MAX_RAY_CHARS: usize = 64;

/// The request id from Cloudflare's `cf-ray` header, kept to ASCII letters, digits and `-` (at
/// most 64): `None` when absent or nothing is left.
#[must_use]
pub fn ray_request_id(headers: &[(String, String)]) -> Option<String> {
    let (_, ray) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("cf-ray"))?;
    let clean: String = ray
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(MAX_RAY_CHARS)
        .collect();
    (!clean.is_empty()).then_some(clean)
}

/// A request id without `cf-ray`: the isolate's random prefix and its request counter, 16 hex
/// characters (unique within the isolate without a CSPRNG call per request).
#[must_use]
pub fn local_request_id(prefix: u32, count: u32) -> String {
    format!("{prefix:08x}{count:08x}")
}

/// JSON allows U+2028 and U+2029 raw inside strings, but JavaScript consumers and many line
/// splitters treat them as line breaks: a subject or path holding one would split a log line, or
/// forge a second. Escape them as `\u2028` / `\u2029` (still the same JSON value).
/// Not inlined: every line goes through it, and one copy keeps the Worker smaller.
#[must_use]
#[inline(never)]
pub fn escape_line_separators(line: String) -> String {
    if !line.contains(['\u{2028}', '\u{2029}']) {
        return line;
    }
    line.replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::CredentialKind;

    fn keys(line: &str) -> Vec<String> {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    fn parsed(line: &str) -> serde_json::Value {
        serde_json::from_str(line).unwrap()
    }

    /// Field names that would hint at a credential, its hash or a secret.
    const FORBIDDEN: [&str; 10] = [
        "token",
        "authorization",
        "credential",
        "secret",
        "hash",
        "api_key",
        "password",
        "signature",
        "cookie",
        "key_hash",
    ];

    fn full_facts() -> LogFacts {
        LogFacts {
            reason: Some(Reason::Authenticated),
            route: Some(2),
            route_path: Some("/v1/**".into()),
            kind: Some(CredentialKind::Jwt),
            subject: Some("user-1".into()),
            key_id: Some("k_1".into()),
            issuer: Some("https://issuer.example".into()),
            kid: Some("kid-1".into()),
            jwks_uri: Some("https://issuer.example/jwks".into()),
            binding: Some("AUTH_KV"),
        }
    }

    #[test]
    fn a_line_with_every_fact_has_exactly_these_fields() {
        let mut line = LogLine::new("rid-1", "GET", "/v1/x", 1000.0);
        line.facts(&full_facts());
        line.own(200);
        line.finish(1012.5);
        let text = line.to_line().unwrap();
        assert_eq!(
            keys(&text),
            [
                "binding",
                "duration_ms",
                "issuer",
                "jwks_uri",
                "key_id",
                "kid",
                "kind",
                "method",
                "outcome",
                "path",
                "reason",
                "request_id",
                "route",
                "route_path",
                "status",
                "subject",
                "time",
            ]
        );
        let v = parsed(&text);
        assert_eq!(v["time"], 1000);
        assert_eq!(v["duration_ms"], 12, "whole milliseconds");
        assert!(text.contains("\"time\":1000,"), "{text}");
        assert_eq!(v["request_id"], "rid-1");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["path"], "/v1/x");
        assert_eq!(v["outcome"], "own");
        assert_eq!(v["status"], 200);
        assert_eq!(v["reason"], "authenticated");
        assert_eq!(v["route"], 2);
        assert_eq!(v["route_path"], "/v1/**");
        assert_eq!(v["kind"], CredentialKind::Jwt.as_str());
        assert_eq!(v["subject"], "user-1");
        assert_eq!(v["key_id"], "k_1");
        assert_eq!(v["issuer"], "https://issuer.example");
        assert_eq!(v["kid"], "kid-1");
        assert_eq!(v["jwks_uri"], "https://issuer.example/jwks");
        assert_eq!(v["binding"], "AUTH_KV");
        assert!(!text.contains('\n'));
    }

    #[test]
    fn absent_facts_and_a_forwarded_status_are_left_out() {
        let mut line = LogLine::new("rid-2", "POST", "/v1/y", 5.0);
        line.facts(&LogFacts {
            reason: Some(Reason::Public),
            ..LogFacts::default()
        });
        line.forwarded();
        line.finish(6.0);
        let text = line.to_line().unwrap();
        assert_eq!(
            keys(&text),
            [
                "duration_ms",
                "method",
                "outcome",
                "path",
                "reason",
                "request_id",
                "time"
            ]
        );
        let v = parsed(&text);
        assert_eq!(v["outcome"], "forwarded");
        assert_eq!(v["reason"], "public");
    }

    #[test]
    fn a_refusal_logs_its_status_and_reason() {
        let problem = Problem::missing_credential();
        let mut line = LogLine::new("rid", "GET", "/", 0.0);
        line.rejected(&problem);
        let v = parsed(&line.to_line().unwrap());
        assert_eq!(v["outcome"], "rejected");
        assert_eq!(v["status"], 401);
        assert_eq!(v["reason"], "missing_credential");
    }

    #[test]
    fn the_path_is_cut_to_512_characters() {
        let long = format!("/{}", "é".repeat(600));
        let line = LogLine::new("rid", "GET", &long, 0.0);
        let v = parsed(&line.to_line().unwrap());
        assert_eq!(v["path"].as_str().unwrap().chars().count(), 512);
    }

    #[test]
    fn line_separators_in_facts_stay_inside_one_line() {
        let mut line = LogLine::new("rid", "GET", "/a\u{2028}b", 0.0);
        line.facts(&LogFacts {
            subject: Some("x\u{2029}{\"forged\":1}".into()),
            ..full_facts()
        });
        let text = line.to_line().unwrap();
        assert!(!text.contains(['\u{2028}', '\u{2029}', '\n', '\r']));
        assert!(text.contains("\\u2028") && text.contains("\\u2029"));
        let v = parsed(&text);
        assert_eq!(v["path"], "/a\u{2028}b");
        assert_eq!(v["subject"], "x\u{2029}{\"forged\":1}");
        assert!(v.get("forged").is_none());
    }

    #[test]
    fn no_line_has_a_credential_hash_or_secret_field() {
        let mut decision = LogLine::new("rid", "GET", "/", 0.0);
        decision.facts(&full_facts());
        decision.own(200);
        let problem = Problem::origin_unreachable();
        let note = crate::jwks::cache::UnusedAlgorithms {
            issuer: "https://issuer.example".into(),
            algorithms: vec![crate::jwt::Algorithm::Rs256],
        };
        let error = ConfigError {
            field: "issuers[0].jwks_uri".into(),
            reason: "not https".into(),
        };
        let lines = [
            decision.to_line().unwrap(),
            origin_error_line(1.0, "rid", &problem),
            refresh_failure_line(1.0, "https://issuer.example", None, Reason::JwksFetchFailed),
            unused_algorithms_line(1.0, &note),
            config_error_line(&error),
        ];
        for line in &lines {
            for key in keys(line) {
                for word in FORBIDDEN {
                    assert!(!key.contains(word), "{key} in {line}");
                }
            }
        }
    }

    #[test]
    fn the_other_lines_have_exactly_these_fields() {
        let problem = Problem::origin_unreachable();
        let line = origin_error_line(3.0, "rid\u{2028}", &problem);
        assert_eq!(
            keys(&line),
            ["outcome", "reason", "request_id", "status", "time"]
        );
        assert!(!line.contains('\u{2028}'));
        let v = parsed(&line);
        assert_eq!(v["outcome"], "origin_error");
        assert_eq!(v["status"], 502);
        assert_eq!(v["reason"], "origin_unreachable");

        let line = refresh_failure_line(3.0, "iss", Some("https://j"), Reason::JwksFetchFailed);
        assert_eq!(
            keys(&line),
            ["issuer", "jwks_uri", "outcome", "reason", "time"]
        );
        assert_eq!(parsed(&line)["outcome"], "jwks_refresh_failed");
        // Without a configured URL the field is there, as null.
        let line = refresh_failure_line(3.0, "iss", None, Reason::JwksFetchFailed);
        assert!(parsed(&line)["jwks_uri"].is_null());

        let note = crate::jwks::cache::UnusedAlgorithms {
            issuer: "iss".into(),
            algorithms: vec![crate::jwt::Algorithm::Rs256, crate::jwt::Algorithm::Es256],
        };
        let line = unused_algorithms_line(3.0, &note);
        assert_eq!(
            keys(&line),
            ["issuer", "outcome", "time", "unused_algorithms"]
        );
        assert_eq!(
            parsed(&line)["unused_algorithms"],
            serde_json::json!(["RS256", "ES256"])
        );

        let error = ConfigError {
            field: "routes[1].path".into(),
            reason: "bad\u{2029}pattern".into(),
        };
        let line = config_error_line(&error);
        assert_eq!(keys(&line), ["event", "field", "level", "reason"]);
        assert!(!line.contains('\u{2029}'));
        assert_eq!(parsed(&line)["event"], "config_invalid");
    }

    #[test]
    fn request_ids_are_the_cleaned_ray_or_a_local_counter() {
        let headers = |v: &str| vec![("CF-Ray".to_string(), v.to_string())];
        assert_eq!(
            ray_request_id(&headers("8f1e-LHR")).as_deref(),
            Some("8f1e-LHR")
        );
        assert_eq!(
            ray_request_id(&headers("a\u{2028}b\"c d\n")).as_deref(),
            Some("abcd")
        );
        assert_eq!(
            ray_request_id(&headers(&"x".repeat(100))).map(|s| s.len()),
            Some(64)
        );
        assert_eq!(ray_request_id(&headers("\u{2028}!")), None);
        assert_eq!(ray_request_id(&[]), None);
        assert_eq!(local_request_id(0xdead_beef, 1), "deadbeef00000001");
        assert_eq!(local_request_id(0, u32::MAX), "00000000ffffffff");
    }

    #[test]
    fn line_separators_are_escaped_and_the_json_is_unchanged() {
        let value = serde_json::json!({ "subject": "a\u{2028}b\u{2029}c", "path": "/x" });
        let line = escape_line_separators(value.to_string());
        assert!(!line.contains('\u{2028}') && !line.contains('\u{2029}'));
        assert!(line.contains("\\u2028") && line.contains("\\u2029"));
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back, value);
        assert_eq!(escape_line_separators("{}".into()), "{}");
    }
}
