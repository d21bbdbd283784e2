//! The admin API over blocking HTTP. The admin token goes only to the configured Worker: no
//! redirect is followed, and it is never part of a message.

use std::time::Duration;

use serde_json::Value;

use super::output::problem_message;
use super::CliError;

pub struct Client {
    agent: ureq::Agent,
    /// `{url}{admin_path}`, without a trailing slash.
    base: String,
    authorization: String,
}

/// A 2xx answer's JSON body (None for an empty body, as 204 has).
#[derive(Debug)]
pub struct Reply {
    pub body: Option<Value>,
}

/// Check and join the base URL and admin path: `http(s)://host[:port][/prefix]` and `/path`.
pub fn base_url(
    url: &str,
    admin_path: &str,
    allow_insecure_http: bool,
) -> Result<String, CliError> {
    let parsed = url::Url::parse(url).map_err(|e| {
        CliError::Usage(format!("--url / EDGE_AUTH_URL {url:?} is not a URL: {e}."))
    })?;
    match parsed.scheme() {
        "https" => {}
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if !loopback && !allow_insecure_http {
                return Err(CliError::Usage(format!(
                    "{url} is plain http to a host that is not loopback: the admin token would \
                     travel in clear. Use https, or --allow-insecure-http."
                )));
            }
        }
        other => {
            return Err(CliError::Usage(format!(
                "--url must be http or https, not {other:?}."
            )))
        }
    }
    if parsed.host().is_none() || parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(CliError::Usage(format!(
            "--url {url:?} must be scheme://host[:port][/prefix], without query or fragment."
        )));
    }
    if !admin_path.starts_with('/') || admin_path.contains(['?', '#']) {
        return Err(CliError::Usage(format!(
            "--admin-path {admin_path:?} must start with / (the default is /_auth)."
        )));
    }
    Ok(format!(
        "{}{}",
        url.trim_end_matches('/'),
        admin_path.trim_end_matches('/')
    ))
}

/// A key id as the API makes them (`key_…`): checked here so it cannot change the path.
pub fn check_id(id: &str) -> Result<&str, CliError> {
    if !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(id)
    } else {
        Err(CliError::Usage(format!(
            "{id:?} is not a key id (letters, digits and _, like key_3hG…)."
        )))
    }
}

impl Client {
    pub fn new(base: String, token: &str, timeout: Duration) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_global(Some(timeout))
            .user_agent(concat!("edge-auth-cli/", env!("CARGO_PKG_VERSION")))
            .build();
        Client {
            agent: ureq::Agent::new_with_config(config),
            base,
            authorization: format!("Bearer {token}"),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn get(&self, path: &str) -> Result<Reply, CliError> {
        let req = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("authorization", &self.authorization)
            .header("accept", "application/json");
        finish(req.call())
    }

    pub fn delete(&self, path: &str) -> Result<Reply, CliError> {
        let req = self
            .agent
            .delete(format!("{}{path}", self.base))
            .header("authorization", &self.authorization)
            .header("accept", "application/json");
        finish(req.call())
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Reply, CliError> {
        let text = encode_body(body)?;
        let req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("authorization", &self.authorization)
            .header("accept", "application/json")
            .header("content-type", "application/json");
        finish(req.send(text))
    }

    pub fn patch(&self, path: &str, body: &Value) -> Result<Reply, CliError> {
        let text = encode_body(body)?;
        let req = self
            .agent
            .patch(format!("{}{path}", self.base))
            .header("authorization", &self.authorization)
            .header("accept", "application/json")
            .header("content-type", "application/json");
        finish(req.send(text))
    }
}

fn encode_body(body: &Value) -> Result<String, CliError> {
    serde_json::to_string(body)
        .map_err(|e| CliError::Usage(format!("cannot encode the request: {e}")))
}

fn finish(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Reply, CliError> {
    let mut response = result.map_err(network_error)?;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .map_err(network_error)?;
    if (300..400).contains(&status) {
        return Err(CliError::Api(format!(
            "the Worker answered {status} (redirect to {}); not followed, so the admin token goes \
             nowhere else: check --url and --admin-path.",
            location.as_deref().unwrap_or("nowhere")
        )));
    }
    if !(200..300).contains(&status) {
        return Err(CliError::Api(problem_message(status, &text)));
    }
    if text.trim().is_empty() {
        return Ok(Reply { body: None });
    }
    match serde_json::from_str(&text) {
        Ok(body) => Ok(Reply { body: Some(body) }),
        Err(_) => Err(CliError::Api(format!(
            "the Worker answered {status} with a body that is not JSON: check --url and --admin-path."
        ))),
    }
}

fn network_error(e: ureq::Error) -> CliError {
    CliError::Network(format!("cannot reach the Worker: {e}."))
}
