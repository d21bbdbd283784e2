//! The Worker's log: hands each line the core serialised (`crate::log`) to the runtime's logger
//! (`logLine` in `runtime.js`, or the console for the config's lines, once per isolate).
//!
//! Owns only which logger a line goes to and the clock reading it is stamped with. Never builds
//! a line's fields (the core does, and pins their schema in its tests) and never sees a
//! credential, a hash or a secret.

use crate::authn::Gateway;
use crate::config::{Config, ConfigError};
use crate::log::LogLine;
use crate::problem::Problem;

use super::crypto::CryptoKeyHandle;
use super::env::now_ms;
use super::glue::log_line;

/// The request's decision line.
pub fn decision(line: &LogLine) {
    if let Some(text) = line.to_line() {
        log_line(&text);
    }
}

/// A forwarded request whose origin could not be reached (or whose assertion could not be
/// signed): a second line after its decision.
pub fn origin_error(request_id: &str, problem: &Problem) {
    log_line(&crate::log::origin_error_line(
        now_ms(),
        request_id,
        problem,
    ));
}

/// A background JWKS refresh failed (stale keys are still served).
pub fn refresh_failure(issuer: &str, jwks_uri: Option<&str>, reason: crate::reason::Reason) {
    log_line(&crate::log::refresh_failure_line(
        now_ms(),
        issuer,
        jwks_uri,
        reason,
    ));
}

/// What this isolate's JWKS fetches noted (once per fetch): algorithms left without a key.
pub fn key_notes(gateway: &Gateway<CryptoKeyHandle>) {
    for note in gateway.jwt.take_unused_algorithms() {
        log_line(&crate::log::unused_algorithms_line(now_ms(), &note));
    }
}

/// Which field of the config is wrong, once per isolate.
pub fn config_error(error: &ConfigError) {
    worker::console_error!("{}", crate::log::config_error_line(error));
}

/// The config's warnings (valid but suspicious claim paths), once per isolate.
pub fn config_warnings(config: &Config) {
    for line in crate::log::config_warning_lines(config) {
        worker::console_warn!("{}", line);
    }
}
