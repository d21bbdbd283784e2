//! The client itself: parse, call the admin API, print. Exit codes: 0 success, 1 the API refused,
//! 2 usage or input error, 3 network error.

mod args;
mod client;
mod import;
mod output;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Map, Value};

use args::{Cli, Command, Keys, Principals, Quota, Tokens, TOKEN_ENV};
use client::{check_id, Client};

/// Why a command failed; each kind has its own exit code.
#[derive(Debug, PartialEq, Eq)]
pub enum CliError {
    /// The API answered with a refusal (its problem is the message).
    Api(String),
    /// Bad arguments, environment or input file.
    Usage(String),
    /// The Worker could not be reached or the answer was cut off.
    Network(String),
}

impl CliError {
    pub fn code(&self) -> u8 {
        match self {
            CliError::Api(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Network(_) => 3,
        }
    }

    fn message(&self) -> &str {
        match self {
            CliError::Api(m) | CliError::Usage(m) | CliError::Network(m) => m,
        }
    }
}

/// Parse `args`, run the command, and say how it went.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are "errors" that print to stdout and succeed.
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let token = std::env::var(TOKEN_ENV).ok();
    match execute(&cli, token.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edge-auth: {}", e.message());
            ExitCode::from(e.code())
        }
    }
}

fn execute(cli: &Cli, token: Option<&str>) -> Result<(), CliError> {
    let Some(url) = cli.url.as_deref().filter(|u| !u.is_empty()) else {
        return Err(CliError::Usage(
            "no Worker URL: give --url or set EDGE_AUTH_URL (e.g. http://127.0.0.1:8787).".into(),
        ));
    };
    let base = client::base_url(url, &cli.admin_path, cli.allow_insecure_http)?;
    // Validate the input file before asking for the token, so --dry-run works without one.
    if let Command::Keys(Keys::Import {
        file,
        dry_run: true,
        ..
    }) = &cli.command
    {
        let records = import::read_records(file)?;
        return say(&format!(
            "{} record(s) in {} are valid; nothing sent (--dry-run).",
            records.len(),
            file.display()
        ));
    }
    let token = match token {
        Some(t) if !t.trim().is_empty() => t.trim(),
        _ => {
            return Err(CliError::Usage(format!(
                "{TOKEN_ENV} is not set: export the admin token in it (it is never a flag)."
            )))
        }
    };
    let api = Client::new(base, token, Duration::from_secs(cli.timeout.max(1)));
    let keys = match &cli.command {
        Command::Keys(keys) => keys,
        Command::Principals(Principals::Revoke {
            subject,
            issuer,
            before,
        }) => {
            let mut body = json!({ "subject": subject });
            if let Some(obj) = body.as_object_mut() {
                if let Some(iss) = issuer {
                    obj.insert("issuer".into(), json!(iss));
                }
                if let Some(b) = before {
                    obj.insert("before".into(), json!(b));
                }
            }
            let reply = api.post("/principals/revoke", &body)?;
            let body = reply.body.unwrap_or(Value::Null);
            if cli.json {
                return print_json(&body);
            }
            let n = field(&body, "revoked_keys").as_array().map_or(0, Vec::len);
            return say(&format!(
                "Revoked {subject}: {n} key(s) and PAT(s), and every token issued at or before {}; refused everywhere within revocation.max_staleness_seconds.",
                field(&body, "before")
            ));
        }
        Command::Tokens(Tokens::Revoke { issuer, jti, exp }) => {
            let reply = api.post(
                "/tokens/revoke",
                &json!({ "issuer": issuer, "jti": jti, "exp": exp }),
            )?;
            let body = reply.body.unwrap_or(Value::Null);
            if cli.json {
                return print_json(&body);
            }
            return say(&format!("Revoked token {jti} of {issuer} until {exp}."));
        }
        Command::Audit { limit, cursor } => return audit(&api, cli.json, *limit, cursor.clone()),
    };
    match keys {
        Keys::Adopt => {
            let mut cursor: Option<String> = None;
            let (mut copied, mut skipped) = (0u64, 0u64);
            loop {
                let path = match &cursor {
                    Some(c) => format!("/keys/adopt?cursor={}", encode(c)),
                    None => "/keys/adopt".to_string(),
                };
                let body = api.post(&path, &Value::Null)?.body.unwrap_or(Value::Null);
                copied += field(&body, "copied").as_u64().unwrap_or(0);
                skipped += field(&body, "skipped").as_u64().unwrap_or(0);
                cursor = field(&body, "cursor").as_str().map(str::to_string);
                if cursor.is_none() {
                    break;
                }
            }
            if cli.json {
                print_json(&json!({ "copied": copied, "skipped": skipped }))
            } else {
                say(&format!(
                    "Adopted {copied} record(s) from KV into the authority ({skipped} it already held)."
                ))
            }
        }
        Keys::Create {
            kind,
            subject,
            name,
            scopes,
            expires_in,
            issuer,
            quota,
        } => {
            let mut body = Map::new();
            body.insert("kind".into(), json!(kind.as_str()));
            body.insert("subject".into(), json!(subject));
            body.insert("name".into(), json!(name));
            body.insert("scopes".into(), json!(scopes));
            if let Some(secs) = expires_in {
                body.insert("expires_in".into(), json!(secs));
            }
            if let Some(iss) = issuer {
                body.insert("issuer".into(), json!(iss));
            }
            quota_fields(quota, &mut body)?;
            let reply = api.post("/keys", &Value::Object(body))?;
            issued(cli.json, reply.body)
        }
        Keys::Update {
            id,
            name,
            scopes,
            clear_scopes,
            quota,
            clear_limits,
            clear_credits,
        } => {
            let id = check_id(id)?;
            let mut body = Map::new();
            if let Some(n) = name {
                body.insert("name".into(), json!(n));
            }
            if !scopes.is_empty() || *clear_scopes {
                body.insert("scopes".into(), json!(scopes));
            }
            quota_fields(quota, &mut body)?;
            if *clear_limits {
                body.insert("limits".into(), Value::Null);
            }
            if *clear_credits {
                body.insert("credits".into(), Value::Null);
            }
            if body.is_empty() {
                return Err(CliError::Usage(
                    "nothing to change: give --name, --scope, --clear-scopes, --limits, \
                     --limits-file, --clear-limits, --credits or --clear-credits."
                        .into(),
                ));
            }
            let reply = api.patch(&format!("/keys/{id}"), &Value::Object(body))?;
            let body = reply.body.unwrap_or(Value::Null);
            if cli.json {
                print_json(&body)
            } else {
                say(&format!("Updated {id}:"))?;
                say(output::key_details(&body).trim_end())
            }
        }
        Keys::Usage { id } => {
            let reply = api.get(&format!("/keys/{}/usage", check_id(id)?))?;
            show(cli.json, &reply.body.unwrap_or(Value::Null), output::usage)
        }
        Keys::Get { id } => {
            let reply = api.get(&format!("/keys/{}", check_id(id)?))?;
            show(
                cli.json,
                &reply.body.unwrap_or(Value::Null),
                output::key_details,
            )
        }
        Keys::Revoke { id } => {
            let id = check_id(id)?;
            api.delete(&format!("/keys/{id}"))?;
            if cli.json {
                Ok(())
            } else {
                say(&format!(
                    "Revoked {id}: it is refused from now on (see README, \"Revocation latency\")."
                ))
            }
        }
        Keys::Roll { id, grace_seconds } => {
            let id = check_id(id)?;
            let reply = api.post(
                &format!("/keys/{id}/roll"),
                &json!({ "grace_seconds": grace_seconds }),
            )?;
            if !cli.json {
                say(&format!(
                    "Rolled {id}: the old key stops working in {grace_seconds} s."
                ))?;
            }
            issued(cli.json, reply.body)
        }
        Keys::List {
            subject,
            issuer,
            kind,
            status,
            limit,
            page_size,
            cursor,
        } => {
            let filters = ListFilters {
                subject: subject.as_deref(),
                issuer: issuer.as_deref(),
                kind: kind.map(|k| k.as_str()),
                status: status.map(|s| s.as_str()),
            };
            let listing = list_all(&api, &filters, *limit, *page_size, cursor.clone())?;
            if cli.json {
                print_json(&listing)
            } else {
                let keys = listing
                    .get("keys")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let mut text = output::key_table(keys);
                text.push_str(&format!("{} key(s)", keys.len()));
                if let Some(c) = listing.get("cursor").and_then(Value::as_str) {
                    text.push_str(&format!("; more follow: --cursor {}", output::clean(c)));
                }
                say(&text)
            }
        }
        Keys::Import {
            file, batch_size, ..
        } => import::run(&api, file, *batch_size, cli.json),
    }
}

/// `--limits`/`--limits-file`, `--credits` and `--refill` as the body's `limits` and `credits`.
fn quota_fields(quota: &Quota, body: &mut Map<String, Value>) -> Result<(), CliError> {
    let limits = match (&quota.limits, &quota.limits_file) {
        (Some(text), _) => Some(parse_limits("--limits", text)?),
        (None, Some(path)) => {
            let text = if path.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
            } else {
                std::fs::read_to_string(path)
            }
            .map_err(|e| {
                CliError::Usage(format!(
                    "--limits-file {}: cannot read it: {e}.",
                    path.display()
                ))
            })?;
            Some(parse_limits(
                &format!("--limits-file {}", path.display()),
                &text,
            )?)
        }
        (None, None) => None,
    };
    if let Some(list) = limits {
        body.insert("limits".into(), list);
    }
    if let Some(remaining) = quota.credits {
        let mut credits = Map::new();
        credits.insert("remaining".into(), json!(remaining));
        if let Some((amount, every_seconds)) = quota.refill {
            credits.insert(
                "refill".into(),
                json!({ "amount": amount, "every_seconds": every_seconds }),
            );
        }
        body.insert("credits".into(), Value::Object(credits));
    }
    Ok(())
}

/// Limits as given: a JSON array of limit objects, or one object (sent as a list of one). The
/// API checks each field and names it (`limits[0].period_seconds`).
pub fn parse_limits(origin: &str, text: &str) -> Result<Value, CliError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| CliError::Usage(format!("{origin} is not JSON: {e}.")))?;
    let list = match value {
        Value::Object(_) => vec![value],
        Value::Array(items) => items,
        _ => {
            return Err(CliError::Usage(format!(
                "{origin} must be a JSON array of limits like \
                 [{{\"name\":\"hourly\",\"limit\":1000,\"period_seconds\":3600,\"by\":\"key\"}}]."
            )))
        }
    };
    if let Some(i) = list.iter().position(|l| !l.is_object()) {
        return Err(CliError::Usage(format!(
            "{origin}: limit {i} is not a JSON object (each needs \"name\", \"limit\", \
             \"period_seconds\" and \"by\")."
        )));
    }
    Ok(Value::Array(list))
}

/// The filters of `keys list`, as query parameters.
#[derive(Debug, Default)]
pub struct ListFilters<'a> {
    pub subject: Option<&'a str>,
    pub issuer: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub status: Option<&'a str>,
}

/// The query string of one listing page.
pub fn list_query(filters: &ListFilters<'_>, page_size: u32, cursor: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("limit", &page_size.to_string());
    for (name, value) in [
        ("subject", filters.subject),
        ("issuer", filters.issuer),
        ("kind", filters.kind),
        ("status", filters.status),
        ("cursor", cursor),
    ] {
        if let Some(v) = value {
            q.append_pair(name, v);
        }
    }
    q.finish()
}

/// A guard against a Worker whose cursors never end.
const MAX_PAGES: usize = 1_000_000;

/// Every page (or up to `limit` keys) merged into one answer of the API's own shape:
/// `{"subject"?, "keys": [...], "cursor"?}`, where `cursor` is there only when keys were left.
fn list_all(
    api: &Client,
    filters: &ListFilters<'_>,
    limit: Option<usize>,
    page_size: u32,
    mut cursor: Option<String>,
) -> Result<Value, CliError> {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let mut keys: Vec<Value> = Vec::new();
    let mut pages = 0usize;
    let mut subject = None;
    loop {
        let query = list_query(filters, page_size, cursor.as_deref());
        let page = api
            .get(&format!("/keys?{query}"))?
            .body
            .unwrap_or(Value::Null);
        pages += 1;
        let Some(items) = page.get("keys").and_then(Value::as_array) else {
            bar.finish_and_clear();
            return Err(CliError::Api(
                "the listing has no \"keys\" array: is --url a Worker running edge-auth?".into(),
            ));
        };
        if subject.is_none() {
            subject = page.get("subject").cloned();
        }
        let next = page
            .get("cursor")
            .and_then(Value::as_str)
            .map(str::to_string);
        let room = limit.map_or(usize::MAX, |l| l.saturating_sub(keys.len()));
        if items.len() > room {
            // Cut within the page: the cursor after it would skip the rest, so none is offered.
            keys.extend(items.iter().take(room).cloned());
            cursor = None;
            break;
        }
        keys.extend(items.iter().cloned());
        cursor = next;
        bar.set_message(format!("{} key(s) from {pages} page(s)", keys.len()));
        bar.tick();
        if cursor.is_none() || limit.is_some_and(|l| keys.len() >= l) {
            break;
        }
        if pages >= MAX_PAGES {
            bar.finish_and_clear();
            return Err(CliError::Api(
                "the Worker keeps returning pages: stopped after 1,000,000.".into(),
            ));
        }
    }
    bar.finish_and_clear();
    let mut out = Map::new();
    if let Some(s) = subject {
        out.insert("subject".into(), s);
    }
    out.insert("keys".into(), Value::Array(keys));
    if let Some(c) = cursor {
        out.insert("cursor".into(), Value::String(c));
    }
    Ok(Value::Object(out))
}

/// Print a freshly issued key: details, then the token once, with the warning on stderr.
fn issued(json_out: bool, body: Option<Value>) -> Result<(), CliError> {
    let body = body.unwrap_or(Value::Null);
    eprintln!("edge-auth: {}", output::STORE_WARNING);
    if json_out {
        return print_json(&body);
    }
    let token = body.get("token").and_then(Value::as_str).unwrap_or("-");
    let mut text = output::key_details(&body);
    text.push_str(&format!("token:       {}", output::clean(token)));
    say(&text)
}

/// `audit`: every page (or up to `limit` events), newest first.
fn audit(
    api: &Client,
    json_out: bool,
    limit: Option<usize>,
    mut cursor: Option<String>,
) -> Result<(), CliError> {
    let mut events: Vec<Value> = Vec::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("/audit?limit=1000&cursor={}", encode(c)),
            None => "/audit?limit=1000".to_string(),
        };
        let body = api.get(&path)?.body.unwrap_or(Value::Null);
        if let Some(page) = field(&body, "events").as_array() {
            events.extend(page.iter().cloned());
        }
        cursor = field(&body, "cursor").as_str().map(str::to_string);
        if let Some(n) = limit {
            if events.len() >= n {
                events.truncate(n);
                break;
            }
        }
        if cursor.is_none() {
            break;
        }
    }
    if json_out {
        let mut out = json!({ "events": events });
        if let (Some(c), Some(obj)) = (&cursor, out.as_object_mut()) {
            obj.insert("cursor".into(), json!(c));
        }
        return print_json(&out);
    }
    for e in &events {
        let actor = match field(field(e, "actor"), "type").as_str() {
            Some("admin_jwt" | "user") => format!(
                "{} {}/{}",
                field(field(e, "actor"), "type").as_str().unwrap_or(""),
                field(field(e, "actor"), "issuer").as_str().unwrap_or(""),
                field(field(e, "actor"), "subject").as_str().unwrap_or("")
            ),
            Some(t) => t.to_string(),
            None => "?".to_string(),
        };
        say(&format!(
            "{}  {:<18} {:<28} {}",
            field(e, "time"),
            field(e, "action").as_str().unwrap_or(""),
            actor,
            field(e, "key_id")
                .as_str()
                .or(field(e, "subject").as_str())
                .unwrap_or("")
        ))?;
    }
    if let Some(c) = cursor {
        say(&format!("(more: --cursor {c})"))?;
    }
    Ok(())
}

/// `v[key]`, or null (never panics).
fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or(&Value::Null)
}

/// A query value, percent-encoded.
fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// The answer as JSON (`--json`) or as `render` writes it for people.
fn show(json: bool, body: &Value, render: fn(&Value) -> String) -> Result<(), CliError> {
    if json {
        print_json(body)
    } else {
        say(render(body).trim_end())
    }
}

fn print_json(v: &Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| CliError::Usage(format!("cannot print the answer: {e}")))?;
    say(&text)
}

/// One line (or block) to stdout; a closed pipe is not a panic.
fn say(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| CliError::Usage(format!("cannot write the output: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use args::{Kind, Status};

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("edge-auth").chain(args.iter().copied()))
    }

    #[test]
    fn create_takes_repeated_scopes_and_options() {
        let cli = parse(&[
            "--url",
            "http://127.0.0.1:8787",
            "keys",
            "create",
            "--kind",
            "pat",
            "--subject",
            "alice",
            "--name",
            "laptop",
            "--scope",
            "read",
            "--scope",
            "write",
            "--expires-in",
            "3600",
            "--issuer",
            "https://iss",
            "--json",
        ])
        .unwrap();
        assert!(cli.json);
        assert_eq!(cli.admin_path, "/_auth");
        assert_eq!(cli.url.as_deref(), Some("http://127.0.0.1:8787"));
        let Command::Keys(Keys::Create {
            kind,
            subject,
            name,
            scopes,
            expires_in,
            issuer,
            quota,
        }) = cli.command
        else {
            panic!("not create");
        };
        assert!(quota.limits.is_none() && quota.credits.is_none());
        assert_eq!(kind, Kind::Pat);
        assert_eq!((subject.as_str(), name.as_str()), ("alice", "laptop"));
        assert_eq!(scopes, ["read", "write"]);
        assert_eq!(expires_in, Some(3600));
        assert_eq!(issuer.as_deref(), Some("https://iss"));
    }

    #[test]
    fn list_options_and_defaults() {
        let cli = parse(&[
            "keys",
            "list",
            "--kind",
            "api_key",
            "--status",
            "revoked",
            "--page-size",
            "1",
        ])
        .unwrap();
        let Command::Keys(Keys::List {
            kind,
            status,
            page_size,
            limit,
            ..
        }) = cli.command
        else {
            panic!("not list");
        };
        assert_eq!(
            (kind, status, page_size, limit),
            (Some(Kind::ApiKey), Some(Status::Revoked), 1, None)
        );
        let cli = parse(&["keys", "list"]).unwrap();
        let Command::Keys(Keys::List { page_size, .. }) = cli.command else {
            panic!("not list");
        };
        assert_eq!(page_size, 100);
    }

    #[test]
    fn usage_errors_are_exit_code_2() {
        for bad in [
            &[
                "keys",
                "create",
                "--kind",
                "other",
                "--subject",
                "s",
                "--name",
                "n",
            ][..],
            &["keys", "create", "--subject", "s", "--name", "n"],
            &["keys", "list", "--page-size", "0"],
            &["keys", "list", "--page-size", "1001"],
            &["keys", "roll"],
            &["keys", "roll", "key_a", "--grace-seconds", "-1"],
            &["keys", "frobnicate"],
            &[
                "keys",
                "create",
                "--kind",
                "pat",
                "--subject",
                "s",
                "--name",
                "n",
                "--token",
                "x",
            ],
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.use_stderr(), "{bad:?}");
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn the_token_is_only_read_from_the_environment() {
        let cli = parse(&["--url", "http://127.0.0.1:1", "keys", "get", "key_a"]).unwrap();
        let e = execute(&cli, None).unwrap_err();
        assert_eq!(e.code(), 2);
        assert!(e.message().contains(TOKEN_ENV));
        assert_eq!(execute(&cli, Some("  ")).unwrap_err().code(), 2);
    }

    #[test]
    fn urls_ids_and_paths_are_checked_before_any_request() {
        assert_eq!(
            client::base_url("http://127.0.0.1:8787/", "/_auth/", false).unwrap(),
            "http://127.0.0.1:8787/_auth"
        );
        assert_eq!(
            client::base_url("https://api.example/edge", "/_auth", false).unwrap(),
            "https://api.example/edge/_auth"
        );
        assert!(client::base_url("http://localhost:8787", "/_auth", false).is_ok());
        assert_eq!(
            client::base_url("http://api.example", "/_auth", false)
                .unwrap_err()
                .code(),
            2
        );
        assert!(client::base_url("http://api.example", "/_auth", true).is_ok());
        assert_eq!(
            client::base_url("ftp://x", "/_auth", false)
                .unwrap_err()
                .code(),
            2
        );
        assert_eq!(
            client::base_url("127.0.0.1:8787", "/_auth", false)
                .unwrap_err()
                .code(),
            2
        );
        assert_eq!(
            client::base_url("https://x?a=1", "/_auth", false)
                .unwrap_err()
                .code(),
            2
        );
        assert_eq!(
            client::base_url("https://x", "_auth", false)
                .unwrap_err()
                .code(),
            2
        );
        assert!(check_id("key_AbC123").is_ok());
        for bad in ["", "../x", "key/roll", "key?x", "k%2f"] {
            assert_eq!(check_id(bad).unwrap_err().code(), 2, "{bad}");
        }
        let cli = parse(&["keys", "get", "key_a"]).unwrap();
        assert!(cli.url.is_none() || std::env::var("EDGE_AUTH_URL").is_ok());
    }

    #[test]
    fn update_and_quota_flags() {
        let cli = parse(&[
            "keys",
            "update",
            "key_a",
            "--limits",
            r#"{"name":"h","limit":5,"period_seconds":60,"by":"key"}"#,
            "--credits",
            "100",
            "--refill",
            "100/3600",
        ])
        .unwrap();
        let Command::Keys(Keys::Update { id, quota, .. }) = cli.command else {
            panic!("not update");
        };
        assert_eq!(id, "key_a");
        assert_eq!(quota.refill, Some((100, 3600)));
        let mut body = Map::new();
        quota_fields(&quota, &mut body).unwrap();
        assert_eq!(
            Value::Object(body),
            json!({
                "limits": [{"name":"h","limit":5,"period_seconds":60,"by":"key"}],
                "credits": {"remaining": 100, "refill": {"amount": 100, "every_seconds": 3600}},
            })
        );
        for bad in [
            &["keys", "update", "key_a", "--refill", "1/60"][..],
            &[
                "keys",
                "update",
                "key_a",
                "--credits",
                "1",
                "--refill",
                "60",
            ],
            &[
                "keys",
                "update",
                "key_a",
                "--credits",
                "1",
                "--refill",
                "x/60",
            ],
            &[
                "keys",
                "update",
                "key_a",
                "--credits",
                "1",
                "--clear-credits",
            ],
            &[
                "keys",
                "update",
                "key_a",
                "--limits",
                "[]",
                "--clear-limits",
            ],
            &[
                "keys",
                "update",
                "key_a",
                "--limits",
                "[]",
                "--limits-file",
                "f",
            ],
            &["keys", "update", "key_a", "--scope", "a", "--clear-scopes"],
            &["keys", "usage"],
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
        for bad in ["", "{", "3", "[1]", "\"hourly\""] {
            assert_eq!(
                parse_limits("--limits", bad).unwrap_err().code(),
                2,
                "{bad}"
            );
        }
        assert_eq!(parse_limits("--limits", "[]").unwrap(), json!([]));
    }

    #[test]
    fn list_queries_are_encoded() {
        let filters = ListFilters {
            subject: Some("a b&c"),
            kind: Some("pat"),
            ..ListFilters::default()
        };
        assert_eq!(
            list_query(&filters, 5, Some("id:key_x")),
            "limit=5&subject=a+b%26c&kind=pat&cursor=id%3Akey_x"
        );
        assert_eq!(list_query(&ListFilters::default(), 100, None), "limit=100");
    }
}
