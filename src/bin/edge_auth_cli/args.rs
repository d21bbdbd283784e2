//! The command line, parsed by clap's derive.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The admin token is read from this variable only: never a flag, so it stays out of shell
/// history and `ps`.
pub const TOKEN_ENV: &str = "EDGE_AUTH_ADMIN_TOKEN";

#[derive(Debug, Parser)]
#[command(
    name = "edge-auth",
    version,
    about = "Manage edge-auth API keys and PATs through the Worker's admin API.",
    after_help = "The admin token is read from EDGE_AUTH_ADMIN_TOKEN (never a flag, never printed).\n\
                  Exit codes: 0 success, 1 the API refused (problem shown), 2 usage or input error, \
                  3 network error."
)]
pub struct Cli {
    /// Base URL of the Worker, e.g. http://127.0.0.1:8787 or https://api.example.
    #[arg(
        long,
        env = "EDGE_AUTH_URL",
        hide_env_values = true,
        global = true,
        value_name = "URL"
    )]
    pub url: Option<String>,
    /// The configured `admin_path`.
    #[arg(long, default_value = "/_auth", global = true, value_name = "PATH")]
    pub admin_path: String,
    /// Print the API's JSON as is instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Allow plain http to a host that is not loopback (the admin token would travel in clear).
    #[arg(long, global = true)]
    pub allow_insecure_http: bool,
    /// Seconds before a request is abandoned.
    #[arg(long, default_value_t = 30, global = true, value_name = "SECONDS")]
    pub timeout: u64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// API keys and PATs (`{admin_path}/keys`).
    #[command(subcommand)]
    Keys(Keys),
    /// Principals (issuer, subject): sign one out everywhere (state tier).
    #[command(subcommand)]
    Principals(Principals),
    /// Single JWTs: revoke one by its `jti` (state tier).
    #[command(subcommand)]
    Tokens(Tokens),
    /// The audit log, newest first, following pages until done or until --limit events
    /// (`{admin_path}/audit`, state tier).
    Audit {
        /// Stop after this many events (the output then carries a `cursor` to go on from).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Start from this cursor (from an earlier, limited listing).
        #[arg(long)]
        cursor: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum Principals {
    /// Revoke every key and PAT of (issuer, subject) and every JWT of it issued at or before
    /// --before (default now).
    Revoke {
        #[arg(long)]
        subject: String,
        /// Absent: the principal of admin-made API keys (they carry no issuer).
        #[arg(long)]
        issuer: Option<String>,
        /// Unix seconds (default: now).
        #[arg(long, value_name = "UNIX_SECONDS")]
        before: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum Tokens {
    /// Refuse one JWT, by its issuer and `jti`, until its `exp`.
    Revoke {
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        jti: String,
        /// The token's `exp` (Unix seconds): the revocation lasts until then.
        #[arg(long, value_name = "UNIX_SECONDS")]
        exp: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    #[value(name = "api_key")]
    ApiKey,
    #[value(name = "pat")]
    Pat,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ApiKey => "api_key",
            Kind::Pat => "pat",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Status {
    Active,
    Revoked,
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Revoked => "revoked",
            Status::Expired => "expired",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Keys {
    /// Create an API key or PAT; its token is printed once.
    Create {
        #[arg(long, value_enum)]
        kind: Kind,
        #[arg(long)]
        subject: String,
        #[arg(long)]
        name: String,
        /// A scope the key carries (repeat for several).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Lifetime in seconds (at least 60; required for PATs).
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<u64>,
        /// For PATs: the issuer of the principal (optional when exactly one is configured).
        #[arg(long)]
        issuer: Option<String>,
        #[command(flatten)]
        quota: Quota,
    },
    /// List keys, following pages until done (or until --limit keys).
    List {
        #[arg(long)]
        subject: Option<String>,
        #[arg(long)]
        issuer: Option<String>,
        #[arg(long, value_enum)]
        kind: Option<Kind>,
        #[arg(long, value_enum)]
        status: Option<Status>,
        /// Stop after this many keys (the output then carries a `cursor` to go on from).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Keys asked for per request (1-1000).
        #[arg(long, default_value_t = 100, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=1000))]
        page_size: u32,
        /// Start from this cursor (from an earlier, limited listing).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one key's metadata.
    Get { id: String },
    /// Change a key's name, scopes, limits or credits (`PATCH {admin_path}/keys/{id}`); what is
    /// not given stays.
    #[command(
        after_help = "Limits are JSON, a list of {\"name\", \"limit\", \"period_seconds\", \"by\": \"key\"|\"principal\"|\"ip\", \
                      \"cost\"?, \"window\"?: \"fixed\"|\"sliding\", \"strict\"?, \"on_unavailable\"?: \"deny\"|\"local\"}; \
                      --limits replaces all of the key's limits. --credits starts the balance over."
    )]
    Update {
        id: String,
        /// The new name.
        #[arg(long)]
        name: Option<String>,
        /// The key's scopes from now on (repeat for several; replaces them all).
        #[arg(long = "scope", value_name = "SCOPE", conflicts_with = "clear_scopes")]
        scopes: Vec<String>,
        /// Remove every scope.
        #[arg(long)]
        clear_scopes: bool,
        #[command(flatten)]
        quota: Quota,
        /// Remove the key's own limits (the route's apply).
        #[arg(long, conflicts_with_all = ["limits", "limits_file"])]
        clear_limits: bool,
        /// Remove the key's credits.
        #[arg(long, conflicts_with_all = ["credits", "refill"])]
        clear_credits: bool,
    },
    /// Show a key's rate-limit counters and credit balance (`GET {admin_path}/keys/{id}/usage`,
    /// state tier).
    Usage { id: String },
    /// Revoke a key: it is refused from then on.
    Revoke { id: String },
    /// Copy keys made before the state tier from KV into the authority (repeats until done).
    Adopt,
    /// Issue a new key with the same subject and scopes; the old one expires after the grace.
    Roll {
        id: String,
        #[arg(long, default_value_t = 0, value_name = "SECONDS")]
        grace_seconds: u64,
    },
    /// Bulk-import existing keys by the SHA-256 of their tokens (`POST {admin_path}/keys/import`).
    #[command(
        long_about = "Bulk-import existing keys by the SHA-256 of their tokens.\n\n\
        Sent in batches to POST {admin_path}/keys/import with body {\"keys\":[...]}; a hash \
        already stored is skipped, so an import can be re-run. --dry-run only validates.\n\n\
        FILE (or - for stdin) holds a JSON array of records or one JSON record per line: \
        {\"hash\": \"<64 lowercase hex sha256 of the token>\", \"id\"?, \"kind\": \
        \"api_key\"|\"pat\", \"subject\", \"name\", \"scopes\": [...], \"issuer\"?, \
        \"expires_at\"?}."
    )]
    Import {
        /// The records: a file, or - for stdin.
        file: PathBuf,
        /// Records sent per request.
        #[arg(long, default_value_t = 100, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=1000))]
        batch_size: u32,
        /// Validate the file and report; send nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// A key's own limits and credits, for `keys create` and `keys update`.
#[derive(Debug, Default, Args)]
pub struct Quota {
    /// The key's limits as JSON: an array of limits (or one limit), e.g.
    /// '[{"name":"hourly","limit":1000,"period_seconds":3600,"by":"key"}]'.
    #[arg(long, value_name = "JSON", conflicts_with = "limits_file")]
    pub limits: Option<String>,
    /// The key's limits from a file (- for stdin), as --limits takes them.
    #[arg(long, value_name = "PATH")]
    pub limits_file: Option<PathBuf>,
    /// Usage credits: the balance to start from (each request spends the route's cost).
    #[arg(long, value_name = "N")]
    pub credits: Option<u64>,
    /// Top the credits up to AMOUNT every SECONDS (at least 60), e.g. 1000/86400.
    #[arg(long, value_name = "AMOUNT/SECONDS", requires = "credits", value_parser = parse_refill)]
    pub refill: Option<(u64, u64)>,
}

/// `AMOUNT/SECONDS` → (amount, seconds).
pub fn parse_refill(text: &str) -> Result<(u64, u64), String> {
    let (amount, seconds) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not AMOUNT/SECONDS (e.g. 1000/86400)"))?;
    let number = |part: &str, what: &str| {
        part.trim()
            .parse::<u64>()
            .map_err(|_| format!("{what} {part:?} in {text:?} is not a whole number"))
    };
    Ok((number(amount, "AMOUNT")?, number(seconds, "SECONDS")?))
}
