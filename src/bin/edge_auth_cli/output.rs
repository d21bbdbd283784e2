//! What a person reads: tables, key details, problems. Everything from the server is made safe
//! for a terminal first (no control characters, no bidirectional overrides).

use serde_json::Value;

/// Text from the server with control, bidirectional and invisible characters shown as `\u{…}`.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let hidden = c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}');
        if hidden {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// The message for a refusal: the problem+json `title`, `detail` and `error`, or the start of
/// whatever else the body is.
pub fn problem_message(status: u16, body: &str) -> String {
    let field = |v: &Value, name: &str| v.get(name).and_then(Value::as_str).map(clean);
    match serde_json::from_str::<Value>(body) {
        Ok(v) if v.is_object() => {
            let title = field(&v, "title").unwrap_or_else(|| "Error".to_string());
            let mut msg = format!("{status} {title}");
            if let Some(detail) = field(&v, "detail") {
                msg.push_str(": ");
                msg.push_str(&detail);
            }
            let mut extra = Vec::new();
            if let Some(error) = field(&v, "error") {
                extra.push(format!("error: {error}"));
            }
            if let Some(rid) = field(&v, "request_id") {
                extra.push(format!("request id: {rid}"));
            }
            if !extra.is_empty() {
                msg.push_str(&format!(" ({})", extra.join(", ")));
            }
            msg
        }
        _ => {
            let start: String = body.chars().take(200).collect();
            let start = clean(start.trim());
            if start.is_empty() {
                format!("{status} from the Worker, with no body")
            } else {
                format!("{status} from the Worker: {start}")
            }
        }
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SSZ` (UTC), by the days-from-civil inverse (Hinnant).
pub fn time(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{d:02} {h:02}:{m:02}:{s:02}Z")
}

fn text(v: &Value, name: &str) -> String {
    match v.get(name) {
        Some(Value::String(s)) => clean(s),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(items)) => clean(
            &items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Some(Value::Bool(b)) => b.to_string(),
        _ => "-".to_string(),
    }
}

fn when(v: &Value, name: &str) -> String {
    match v.get(name).and_then(Value::as_u64) {
        Some(t) => time(t),
        None => "-".to_string(),
    }
}

/// Keys as an aligned table, one line each.
pub fn key_table(keys: &[Value]) -> String {
    let headers = [
        "ID", "KIND", "SUBJECT", "NAME", "STATUS", "SCOPES", "EXPIRES", "START",
    ];
    let rows: Vec<[String; 8]> = keys
        .iter()
        .map(|k| {
            [
                text(k, "id"),
                text(k, "kind"),
                text(k, "subject"),
                text(k, "name"),
                text(k, "status"),
                text(k, "scopes"),
                when(k, "expires_at"),
                text(k, "start"),
            ]
        })
        .collect();
    let mut widths = headers.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (cell, w) in cells.zip(widths.iter()) {
            out.push_str(cell);
            out.push_str(&" ".repeat(w.saturating_sub(cell.chars().count()) + 2));
        }
        let mut out = out.trim_end().to_string();
        out.push('\n');
        out
    };
    let mut out = line(&mut headers.iter().copied());
    for row in &rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

/// One key as `field: value` lines.
pub fn key_details(key: &Value) -> String {
    let mut out = String::new();
    let mut add = |label: &str, value: String| {
        out.push_str(&format!("{label:<13}{value}\n"));
    };
    add("id:", text(key, "id"));
    add("kind:", text(key, "kind"));
    add("subject:", text(key, "subject"));
    if key.get("issuer").is_some_and(|i| !i.is_null()) {
        add("issuer:", text(key, "issuer"));
    }
    add("name:", text(key, "name"));
    add("scopes:", text(key, "scopes"));
    if key.get("status").is_some() {
        add("status:", text(key, "status"));
    }
    add("start:", text(key, "start"));
    add("created:", when(key, "created_at"));
    add("expires:", when(key, "expires_at"));
    if key.get("revoked_at").is_some() {
        add("revoked:", when(key, "revoked_at"));
    }
    if key.get("last_used_at").is_some() {
        add("last used:", when(key, "last_used_at"));
    }
    out
}

/// Shown beside every freshly issued token (create and roll).
pub const STORE_WARNING: &str =
    "Store this token now: it is shown only once, and the Worker keeps only its hash.";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_are_utc_calendar_dates() {
        assert_eq!(time(0), "1970-01-01 00:00:00Z");
        assert_eq!(time(951_782_400), "2000-02-29 00:00:00Z");
        assert_eq!(time(1_700_000_000), "2023-11-14 22:13:20Z");
        assert_eq!(time(4_102_444_799), "2099-12-31 23:59:59Z");
    }

    #[test]
    fn problems_show_title_detail_and_error() {
        let body = r#"{"type":"about:blank","title":"Unauthorized","status":401,"detail":"A credential is required.","error":"invalid_token","request_id":"r1"}"#;
        assert_eq!(
            problem_message(401, body),
            "401 Unauthorized: A credential is required. (error: invalid_token, request id: r1)"
        );
        assert_eq!(
            problem_message(502, "<html>bad gateway</html>"),
            "502 from the Worker: <html>bad gateway</html>"
        );
        assert_eq!(
            problem_message(500, ""),
            "500 from the Worker, with no body"
        );
    }

    #[test]
    fn server_text_cannot_drive_the_terminal() {
        assert_eq!(clean("\u{202e}nimda"), "\\u{202e}nimda");
        assert_eq!(clean("a\x1b[31mb\n"), "a\\u{1b}[31mb\\u{a}");
        assert_eq!(clean("ok ü"), "ok ü");
    }

    #[test]
    fn tables_align_and_show_missing_values() {
        let keys = vec![
            json!({"id":"key_a","kind":"api_key","subject":"svc","name":"ci","status":"active","scopes":["read","write"],"expires_at":null,"start":"eak_abcd"}),
            json!({"id":"key_bb","kind":"pat","subject":"alice@example","name":"laptop","status":"revoked","scopes":[],"expires_at":0,"start":"eap_wxyz"}),
        ];
        let table = key_table(&keys);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            "ID      KIND     SUBJECT        NAME    STATUS   SCOPES      EXPIRES               START"
        );
        assert_eq!(
            lines[1],
            "key_a   api_key  svc            ci      active   read write  -                     eak_abcd"
        );
        assert_eq!(
            lines[2],
            "key_bb  pat      alice@example  laptop  revoked              1970-01-01 00:00:00Z  eap_wxyz"
        );
        assert_eq!(key_table(&[]).lines().count(), 1, "headers only");
    }

    #[test]
    fn details_name_every_field() {
        let key = json!({"id":"key_a","kind":"pat","subject":"s","issuer":"https://iss","name":"n","scopes":["r"],"created_at":0,"expires_at":60,"start":"eap_1234","token":"eap_secret"});
        let text = key_details(&key);
        assert!(text.contains("issuer:      https://iss\n"));
        assert!(text.contains("expires:     1970-01-01 00:01:00Z\n"));
        assert!(
            !text.contains("eap_secret"),
            "details never include the token"
        );
        assert!(!text.contains("status:"));
    }
}
