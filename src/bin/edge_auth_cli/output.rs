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
    let rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
    table(&headers, &rows)
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
    if let Some(limits) = key.get("limits").and_then(Value::as_array) {
        if limits.is_empty() {
            add("limits:", "none (the route's apply)".to_string());
        }
        for l in limits {
            add("limit:", limit_line(l));
        }
    }
    match key.get("credits") {
        Some(Value::Null) => add("credits:", "none".to_string()),
        Some(c) => {
            let mut line = format!("{} to start from", text(c, "remaining"));
            if let Some(r) = c.get("refill").filter(|r| r.is_object()) {
                line.push_str(&format!(", {}", refill(r)));
            }
            if let Some(ms) = c.get("set_at").and_then(Value::as_u64) {
                line.push_str(&format!(", set {}", time(ms / 1000)));
            }
            add("credits:", line);
        }
        None => {}
    }
    out
}

/// `hourly: 1000 per 3600 s by key (sliding, cost 2, strict, on_unavailable local)`.
fn limit_line(l: &Value) -> String {
    let mut line = format!(
        "{}: {} per {} s by {}",
        text(l, "name"),
        text(l, "limit"),
        text(l, "period_seconds"),
        text(l, "by")
    );
    let mut extra = Vec::new();
    if let Some(w) = l.get("window").and_then(Value::as_str) {
        extra.push(clean(w));
    }
    if l.get("cost").is_some_and(|c| !c.is_null()) {
        extra.push(format!("cost {}", text(l, "cost")));
    }
    if l.get("strict").and_then(Value::as_bool) == Some(true) {
        extra.push("strict".to_string());
    }
    if let Some(u) = l.get("on_unavailable").and_then(Value::as_str) {
        extra.push(format!("on_unavailable {}", clean(u)));
    }
    if !extra.is_empty() {
        line.push_str(&format!(" ({})", extra.join(", ")));
    }
    line
}

fn refill(r: &Value) -> String {
    format!(
        "refilled to {} every {} s",
        text(r, "amount"),
        text(r, "every_seconds")
    )
}

/// `keys usage`: the credit balance, then the counters as a table.
pub fn usage(report: &Value) -> String {
    let mut out = String::new();
    out.push_str(&format!("{:<13}{}\n", "id:", text(report, "id")));
    out.push_str(&format!(
        "{:<13}{}\n",
        "last used:",
        when(report, "last_used_at")
    ));
    let credits = match report.get("credits") {
        Some(c) if c.is_object() => {
            let mut line = format!(
                "{} remaining, {} leased",
                text(c, "remaining"),
                text(c, "leased")
            );
            if let Some(r) = c.get("refill").filter(|r| r.is_object()) {
                line.push_str(&format!(", {}", refill(r)));
            }
            if c.get("next_refill_at").is_some() {
                line.push_str(&format!(" (next {})", when(c, "next_refill_at")));
            }
            line
        }
        _ => "none".to_string(),
    };
    out.push_str(&format!("{:<13}{credits}\n", "credits:"));
    let limits = report
        .get("limits")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if limits.is_empty() {
        out.push_str("No counters yet: no limited request of this key has been counted.\n");
        return out;
    }
    let headers = [
        "LIMIT",
        "BY",
        "WINDOW",
        "USED",
        "REMAINING",
        "OF",
        "PERIOD",
        "RESETS_IN",
    ];
    let rows: Vec<Vec<String>> = limits
        .iter()
        .map(|l| {
            vec![
                text(l, "name"),
                text(l, "by"),
                text(l, "window"),
                text(l, "used"),
                text(l, "remaining"),
                text(l, "limit"),
                format!("{} s", text(l, "period_seconds")),
                format!("{} s", text(l, "reset_seconds")),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&table(&headers, &rows));
    out
}

/// An aligned table: each column as wide as its widest cell, two spaces apart.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
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
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
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
        assert!(
            !text.contains("limit"),
            "a created key's answer has no limits"
        );
    }

    #[test]
    fn details_show_limits_and_credits() {
        let key = json!({"id":"key_a","limits":[
            {"name":"hourly","limit":100,"period_seconds":3600,"by":"key"},
            {"name":"d","limit":9,"period_seconds":60,"by":"principal","window":"sliding","cost":2,"strict":true}
        ],"credits":{"remaining":50,"refill":{"amount":50,"every_seconds":3600},"set_at":60_000}});
        let text = key_details(&key);
        assert!(
            text.contains("limit:       hourly: 100 per 3600 s by key\n"),
            "{text}"
        );
        assert!(
            text.contains("limit:       d: 9 per 60 s by principal (sliding, cost 2, strict)\n")
        );
        assert!(text.contains(
            "credits:     50 to start from, refilled to 50 every 3600 s, set 1970-01-01 00:01:00Z\n"
        ));
        let none = key_details(&json!({"id":"key_a","limits":[],"credits":null}));
        assert!(none.contains("limits:      none (the route's apply)\n"));
        assert!(none.contains("credits:     none\n"));
    }

    #[test]
    fn usage_is_a_balance_and_a_table() {
        let report = json!({"id":"key_a","last_used_at":60,"credits":{"remaining":47,"leased":3,"refill":{"amount":50,"every_seconds":3600},"next_refill_at":3600},
            "limits":[{"name":"hourly","by":"key","limit":100,"period_seconds":3600,"window":"fixed","used":3,"remaining":97,"reset_seconds":120}]});
        let text = usage(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "id:          key_a");
        assert_eq!(lines[1], "last used:   1970-01-01 00:01:00Z");
        assert_eq!(
            lines[2],
            "credits:     47 remaining, 3 leased, refilled to 50 every 3600 s (next 1970-01-01 01:00:00Z)"
        );
        assert_eq!(
            lines[4],
            "LIMIT   BY   WINDOW  USED  REMAINING  OF   PERIOD  RESETS_IN"
        );
        assert_eq!(
            lines[5],
            "hourly  key  fixed   3     97         100  3600 s  120 s"
        );
        let empty = usage(&json!({"id":"key_a","last_used_at":null,"credits":null,"limits":[]}));
        assert!(empty.contains("credits:     none\n"));
        assert!(empty.contains("No counters yet"));
    }
}
