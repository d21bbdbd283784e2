//! `keys import`: existing keys by the SHA-256 of their tokens, sent in batches to
//! `POST {admin_path}/keys/import` with `{"keys":[…]}` (the Worker answers
//! `{"imported","skipped","ids"}`). It never claims a success it did not get: the counts are the
//! Worker's. A Worker too old to have the endpoint is reported as such.

use std::io::Read;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::client::Client;
use super::CliError;

/// One record of the import file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRecord {
    /// Lowercase hex SHA-256 of the whole token.
    pub hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub kind: String,
    pub subject: String,
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

impl ImportRecord {
    fn check(&self) -> Result<(), String> {
        if self.hash.len() != 64
            || !self
                .hash
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(
                "\"hash\" must be 64 lowercase hex digits (the SHA-256 of the token)".into(),
            );
        }
        if !matches!(self.kind.as_str(), "api_key" | "pat") {
            return Err("\"kind\" must be \"api_key\" or \"pat\"".into());
        }
        if self.subject.is_empty() || self.name.is_empty() {
            return Err("\"subject\" and \"name\" must not be empty".into());
        }
        if let Some(id) = &self.id {
            if id.is_empty()
                || id.len() > 64
                || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err("\"id\" must be letters, digits and _ (at most 64)".into());
            }
        }
        Ok(())
    }
}

/// Records from `text`: a JSON array, or one JSON object per line (blank lines skipped).
pub fn parse_records(text: &str) -> Result<Vec<ImportRecord>, String> {
    let records: Vec<(usize, ImportRecord)> = if text.trim_start().starts_with('[') {
        let list: Vec<ImportRecord> =
            serde_json::from_str(text).map_err(|e| format!("the JSON array: {e}"))?;
        list.into_iter()
            .enumerate()
            .map(|(i, r)| (i + 1, r))
            .collect()
    } else {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let record = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
            out.push((i + 1, record));
        }
        out
    };
    let mut seen = std::collections::HashSet::new();
    // Ids too: the Worker refuses one id twice in a batch, and across batches the later one
    // would be a 409 after the earlier batches were written.
    let mut ids = std::collections::HashSet::new();
    for (n, record) in &records {
        record.check().map_err(|e| format!("record {n}: {e}"))?;
        if !seen.insert(record.hash.as_str()) {
            return Err(format!("record {n}: the same hash appears twice"));
        }
        if let Some(id) = &record.id {
            if !ids.insert(id.as_str()) {
                return Err(format!("record {n}: the same id appears twice"));
            }
        }
    }
    Ok(records.into_iter().map(|(_, r)| r).collect())
}

/// The file's records (`-` reads stdin); an unreadable or invalid file is a usage error.
pub fn read_records(path: &Path) -> Result<Vec<ImportRecord>, CliError> {
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    read.map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
    let records =
        parse_records(&text).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
    if records.is_empty() {
        return Err(CliError::Usage(format!(
            "{} holds no records",
            path.display()
        )));
    }
    Ok(records)
}

/// Send the file in batches, with a progress bar; stops at the first refusal.
pub fn run(api: &Client, path: &Path, batch_size: u32, json_out: bool) -> Result<(), CliError> {
    let records = read_records(path)?;
    let total = records.len();
    let bar = ProgressBar::new(u64::try_from(total).unwrap_or(u64::MAX));
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} keys [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut replies = Vec::new();
    let mut imported = 0usize;
    let size = usize::try_from(batch_size).unwrap_or(100).max(1);
    for batch in records.chunks(size) {
        let body = json!({ "keys": batch });
        match api.post("/keys/import", &body) {
            Ok(reply) => {
                imported += batch.len();
                bar.inc(u64::try_from(batch.len()).unwrap_or(0));
                replies.push(reply.body.unwrap_or(Value::Null));
            }
            Err(CliError::Api(msg)) if imported == 0 && missing_endpoint(&msg) => {
                bar.finish_and_clear();
                return Err(CliError::Api(format!(
                    "this Worker has no import endpoint (POST {}/keys/import answered {msg}); \
                     `keys import` needs it, and nothing was imported.",
                    api.base()
                )));
            }
            Err(e) => {
                bar.finish_and_clear();
                return Err(match e {
                    CliError::Api(msg) => CliError::Api(format!(
                        "{msg} — {imported} of {total} key(s) were imported before this batch."
                    )),
                    other => other,
                });
            }
        }
    }
    bar.finish_and_clear();
    if json_out {
        let text =
            serde_json::to_string_pretty(&json!({ "imported": imported, "replies": replies }))
                .map_err(|e| CliError::Usage(format!("cannot print the answer: {e}")))?;
        println!("{text}");
    } else {
        let count = |field: &str| -> u64 {
            replies
                .iter()
                .filter_map(|r| r.get(field).and_then(Value::as_u64))
                .sum()
        };
        println!(
            "Imported {} key(s) from {} ({} already there, skipped).",
            count("imported"),
            path.display(),
            count("skipped")
        );
    }
    Ok(())
}

/// True for the answers of a Worker without the endpoint (`/keys/import` reads as key id
/// "import", which takes no POST).
fn missing_endpoint(msg: &str) -> bool {
    msg.starts_with("404 ") || msg.starts_with("405 ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn json_lines_and_arrays_are_read() {
        let line = format!(
            r#"{{"hash":"{HASH}","kind":"api_key","subject":"s","name":"n","scopes":["r"]}}"#
        );
        let lines = parse_records(&format!("{line}\n\n")).unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].scopes, ["r"]);
        let array = parse_records(&format!("[{line}]")).unwrap();
        assert_eq!(array, lines);
        let sent = serde_json::to_value(&lines[0]).unwrap();
        assert!(sent.get("id").is_none() && sent.get("expires_at").is_none());
    }

    #[test]
    fn bad_records_are_named() {
        let bad_hash = r#"{"hash":"ABC","kind":"api_key","subject":"s","name":"n"}"#;
        assert!(parse_records(bad_hash)
            .unwrap_err()
            .contains("record 1: \"hash\""));
        let upper = format!(
            r#"{{"hash":"{}","kind":"api_key","subject":"s","name":"n"}}"#,
            HASH.to_uppercase()
        );
        assert!(parse_records(&upper).is_err());
        let kind = format!(r#"{{"hash":"{HASH}","kind":"jwt","subject":"s","name":"n"}}"#);
        assert!(parse_records(&kind).unwrap_err().contains("\"kind\""));
        let token =
            format!(r#"{{"hash":"{HASH}","kind":"pat","subject":"s","name":"n","token":"eap_x"}}"#);
        assert!(
            parse_records(&token).unwrap_err().contains("line 1"),
            "unknown fields are refused"
        );
        let twice = format!(r#"{{"hash":"{HASH}","kind":"pat","subject":"s","name":"n"}}"#);
        assert!(parse_records(&format!("{twice}\n{twice}"))
            .unwrap_err()
            .contains("record 2"));
        let other = "b".repeat(64);
        let same_id = format!(
            "{{\"hash\":\"{HASH}\",\"id\":\"key_x\",\"kind\":\"api_key\",\"subject\":\"s\",\"name\":\"n\"}}\n\
             {{\"hash\":\"{other}\",\"id\":\"key_x\",\"kind\":\"api_key\",\"subject\":\"s\",\"name\":\"n\"}}"
        );
        assert!(parse_records(&same_id)
            .unwrap_err()
            .contains("record 2: the same id"));
    }

    #[test]
    fn a_worker_without_the_endpoint_is_recognised() {
        assert!(missing_endpoint(
            "405 Method not allowed: This endpoint does not support this method."
        ));
        assert!(missing_endpoint("404 Not found: No such endpoint."));
        assert!(!missing_endpoint("400 Invalid request: bad"));
    }
}
