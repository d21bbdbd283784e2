//! The header plan: which request headers reach the origin and which identity headers are added.
//! Every client-sent `x-auth-*` header (any case, `_` read as `-`) is removed on every path,
//! before anything else looks at the request.

use crate::identity::Identity;

/// Header names compared lowercase. Hop-by-hop headers (RFC 9110 §7.6.1) are never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// `name` lowercased with `_` read as `-`: how servers that map headers to CGI-style variables
/// (`HTTP_X_HTTP_METHOD_OVERRIDE`) see it, so `X_HTTP_Method_Override` is treated like the dashed
/// spelling.
fn canonical_name(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'_' => '-',
            other => char::from(other.to_ascii_lowercase()),
        })
        .collect()
}

/// The client's address as Cloudflare reports it (`CF-Connecting-IP`), if present: what the
/// forwarding headers, the failed-auth budget and the audit log name.
#[must_use]
pub fn client_ip(headers: &[(String, String)]) -> Option<&str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("cf-connecting-ip"))
        .map(|(_, v)| v.as_str())
}

/// The bucket an address is counted in by per-address limits and the failed-auth budget: an
/// IPv4 address as it is, an IPv6 address by its /64 (`2001:db8:1:2::/64`). One IPv6 client
/// usually holds a whole /64 (RFC 6177 suggests /48 to /64 per site), and counting each of its
/// 2^64 addresses apart would make every per-address bound per-request. An IPv4-mapped IPv6
/// address counts as its IPv4 address; anything unparseable as itself.
#[must_use]
pub fn address_bucket(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.to_string(),
    }
}

/// True for a header the edge owns: its name, lowercased with `_` read as `-`, starts with
/// `x-auth-`.
#[must_use]
pub fn is_reserved_auth_header(name: &str) -> bool {
    let mut normalised = name.bytes().map(|b| match b {
        b'_' => b'-',
        other => other.to_ascii_lowercase(),
    });
    b"x-auth-"
        .iter()
        .all(|expected| normalised.next() == Some(*expected))
}

/// A header whose dashed spelling Cloudflare, a trusted proxy or the edge itself vouches for
/// (`lower` is [`canonical_name`]). Its underscore spelling (`CF_Connecting_IP`, `X_API_Key` beside
/// a forwarded credential, `X_Forwarded_For` behind a trusted proxy) is never forwarded: servers
/// that map headers to CGI-style variables read it as the real header, and only the dashed one
/// passes the rules of [`is_dropped`].
fn is_vouched_for(lower: &str) -> bool {
    is_credential_header(lower)
        || lower.starts_with("cf-")
        || lower.starts_with("x-forwarded-")
        || CLIENT_FORWARDING.contains(&lower)
}

/// The credential headers, stripped unless the route asks to forward them.
fn is_credential_header(lower: &str) -> bool {
    lower == "authorization" || lower == "x-api-key"
}

/// Headers that make an origin framework handle the request as another method than the one the
/// edge checked (Rails, Symfony, ASP.NET method overrides). Never forwarded; named in a query,
/// refused ([`query_names_method_override`]).
const METHOD_OVERRIDES: &[&str] = &[
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Headers that make an origin framework handle the request as another URL than the one the
/// edge checked (IIS/Symfony URL rewrites; nginx/Traefik original-URI headers). Never forwarded.
const REWRITES: &[&str] = &["x-original-url", "x-rewrite-url", "x-original-uri"];

/// Whether the query names a method override: `_method` (Symfony and Laravel read it from the
/// query of a POST) or the name of one of the override headers above (as some frameworks take
/// them from the query too), after form decoding, in any case and with `_` read as `-`. The
/// origin would then run another method than the routes checked.
#[must_use]
pub fn query_names_method_override(query: Option<&str>) -> bool {
    let Some(query) = query else {
        return false;
    };
    // Compared in place: no allocation for the names of a query that holds none of them.
    url::form_urlencoded::parse(query.as_bytes()).any(|(name, _)| {
        name.eq_ignore_ascii_case("_method")
            || METHOD_OVERRIDES.iter().any(|m| same_header_name(&name, m))
    })
}

/// `name` read as a header name (any case, `_` as `-`) equals the lower-case `lower`.
fn same_header_name(name: &str, lower: &str) -> bool {
    name.len() == lower.len()
        && name
            .bytes()
            .zip(lower.bytes())
            .all(|(a, b)| a.to_ascii_lowercase() == b || (a == b'_' && b == b'-'))
}

/// Client-address and forwarding headers (besides every `x-forwarded-*`): the origin gets the
/// edge's own account of them, unless the edge sits behind a proxy it trusts.
const CLIENT_FORWARDING: &[&str] = &[
    "forwarded",
    "x-real-ip",
    "true-client-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "client-ip",
];

/// The edge's loop marker: a request that already carries the edge's own origin here has been
/// forwarded back to the edge (route mode without a zone origin, or `origin` pointing at the
/// edge). Never forwarded from the client; set by the edge on every forward.
pub const HOP_HEADER: &str = "x-edge-auth-hop";

/// RFC 9110 §5.6.2 `token`: the only header names the runtime can send.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// Which of the client's headers may pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct Forwarding {
    /// Forward `Authorization` / `X-API-Key` (the route's `forward_credentials`).
    pub forward_credentials: bool,
    /// Keep the client's forwarding headers (`forward.trust_forwarded_headers`: the edge sits
    /// behind a proxy that sets them).
    pub trust_forwarded: bool,
}

/// What the edge knows of the client, for the forwarding headers it sets.
#[derive(Clone, Copy, Debug)]
pub struct ClientFacts<'a> {
    /// The client's address (`CF-Connecting-IP`, set by Cloudflare), if known.
    pub ip: Option<&'a str>,
    /// `http` or `https`: the scheme the client used.
    pub proto: &'a str,
    /// The host (and port) the client asked for.
    pub host: &'a str,
    /// The edge's own origin, sent in [`HOP_HEADER`].
    pub hop: &'a str,
}

/// Why a header is never forwarded as the client sent it.
fn is_dropped(name: &str, connection_named: &[String], f: Forwarding) -> bool {
    let lower = canonical_name(name);
    let lower = lower.as_str();
    is_reserved_auth_header(lower)
        || (name.contains('_') && is_vouched_for(lower))
        || HOP_BY_HOP.contains(&lower)
        || connection_named.iter().any(|n| n == lower)
        || lower == "host"
        || lower == HOP_HEADER
        || REWRITES.contains(&lower)
        || METHOD_OVERRIDES.contains(&lower)
        || (!f.forward_credentials && is_credential_header(lower))
        || (!f.trust_forwarded
            && (lower.starts_with("x-forwarded-") || CLIENT_FORWARDING.contains(&lower)))
}

/// What the origin receives, as edits to the incoming headers: every name in `delete` removed,
/// then every entry of `append` added. Only [`plan_forward`] makes one (private fields), after
/// it has taken out everything the client may not send on (reserved `x-auth-*` in any case or
/// spelling, hop-by-hop, `host`, method and URL overrides, untrusted forwarding headers,
/// credentials unless the route forwards them) and checked that every header it adds can be
/// sent; [`crate::authn::Decision::Forward`] carries nothing else, so no other code can put a
/// header in front of the origin.
///
/// Edits rather than a list: the runtime copies the incoming headers natively and edits the copy,
/// much cheaper in workerd than building a new list from strings, and the core plans the edits
/// directly (nothing re-diffs a list afterwards).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForwardPlan {
    /// Lowercase names to remove entirely (each once).
    delete: Vec<String>,
    /// Entries to append, in order, after the deletions.
    append: Vec<(String, String)>,
}

/// A header the edge meant to add cannot be sent (a name that is not an RFC 9110 token, or a
/// value with a byte outside visible ASCII, space and tab): nothing is forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsendable;

impl ForwardPlan {
    /// Lowercase names removed from the incoming headers.
    #[must_use]
    pub fn delete(&self) -> &[String] {
        &self.delete
    }

    /// Entries added after the deletions.
    #[must_use]
    pub fn append(&self) -> &[(String, String)] {
        &self.append
    }

    /// The form `runtime.js` `send` applies: JSON `[[delete…], [[name, value]…]]`.
    /// [`Unsendable`] if it could not be written (it cannot for strings, but an empty plan in
    /// its place would forward the client's credentials: nothing is sent instead).
    pub fn to_json(&self) -> Result<String, Unsendable> {
        serde_json::to_string(&(&self.delete, &self.append)).map_err(|_| Unsendable)
    }

    /// The headers the origin receives when the runtime applies this plan to `incoming`, as
    /// `runtime.js` `send` does: the names it cannot send left out of the copy, the deletions,
    /// every `x-auth-*` name deleted again (its second line), then the additions. For tests,
    /// benchmarks and anything that wants the list.
    #[must_use]
    pub fn apply(&self, incoming: &[(String, String)]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = incoming
            .iter()
            .filter(|(n, _)| is_token(n))
            .filter(|(n, _)| !self.delete.iter().any(|d| d.eq_ignore_ascii_case(n)))
            .filter(|(n, _)| !is_reserved_auth_header(n))
            .cloned()
            .collect();
        out.extend(self.append.iter().cloned());
        out
    }
}

/// The header names `Connection` lists (hop-by-hop for this message, RFC 9110 §7.6.1), in
/// [`canonical_name`] form.
fn connection_named(incoming: &[(String, String)]) -> Vec<String> {
    incoming
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(','))
        .map(|t| canonical_name(t.trim()))
        .filter(|t| !t.is_empty())
        .collect()
}

/// Bytes a header value may hold on the way out (visible ASCII, space, tab).
fn sendable_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
}

/// The [`ForwardPlan`] for `incoming`: remove every header `incoming` may not pass on (reserved,
/// hop-by-hop including any named by `Connection`, `host`, method and URL overrides, the client's
/// forwarding headers unless trusted, credential headers unless `forward_credentials`) and every
/// name `set` gives a value of its own; then add `set`. Names the runtime cannot send are left
/// out of its copy by the runtime itself (and `Headers.delete` would refuse them), so they are
/// not listed. [`Unsendable`] when an entry of `set` could not be sent.
pub fn plan_forward(
    incoming: &[(String, String)],
    forwarding: &Forwarding,
    set: Vec<(String, String)>,
) -> Result<ForwardPlan, Unsendable> {
    if !set.iter().all(|(n, v)| is_token(n) && sendable_value(v)) {
        return Err(Unsendable);
    }
    let connection_named = connection_named(incoming);
    let mut delete: Vec<String> = Vec::new();
    for (name, _) in incoming {
        if !is_token(name) {
            continue;
        }
        let gone = is_dropped(name, &connection_named, *forwarding)
            || set.iter().any(|(s, _)| s.eq_ignore_ascii_case(name));
        if gone && !delete.iter().any(|d| d.eq_ignore_ascii_case(name)) {
            delete.push(name.to_ascii_lowercase());
        }
    }
    Ok(ForwardPlan {
        delete,
        append: set,
    })
}

/// The headers to send to the origin, as a list: [`plan_forward`]'s plan applied to `incoming`
/// ([`ForwardPlan::apply`]); an unsendable `set` forwards nothing of it (the request itself is
/// refused in that case). For tests and benchmarks: the request path keeps the plan.
#[must_use]
pub fn forward_headers(
    incoming: &[(String, String)],
    forwarding: &Forwarding,
    set: Vec<(String, String)>,
) -> Vec<(String, String)> {
    plan_forward(incoming, forwarding, set)
        .map(|plan| plan.apply(incoming))
        .unwrap_or_default()
}

/// The forwarding headers the edge sets itself: `X-Forwarded-For` (the client's address, after a
/// trusted proxy's chain when `trust_forwarded`), `X-Forwarded-Proto` and `X-Forwarded-Host`
/// (unless a trusted proxy set them), and the edge's loop marker.
#[must_use]
pub fn edge_forwarding_headers(
    incoming: &[(String, String)],
    client: &ClientFacts<'_>,
    trust_forwarded: bool,
) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(4);
    let client_chain = incoming
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-for"))
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty());
    match (trust_forwarded, client.ip, client_chain) {
        (true, Some(ip), Some(chain)) => {
            out.push((
                "X-Forwarded-For".into(),
                header_value(&format!("{chain}, {ip}")),
            ));
        }
        (true, None, _) => {}
        (_, Some(ip), _) => out.push(("X-Forwarded-For".into(), header_value(ip))),
        (false, None, _) => {}
    }
    if !trust_forwarded {
        out.push(("X-Forwarded-Proto".into(), header_value(client.proto)));
        out.push(("X-Forwarded-Host".into(), header_value(client.host)));
    }
    out.push((HOP_HEADER.to_string(), header_value(client.hop)));
    out
}

/// True when a request already passed through this edge (its own origin in [`HOP_HEADER`]).
#[must_use]
pub fn is_own_hop(incoming: &[(String, String)], own_origin: &str) -> bool {
    incoming
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(HOP_HEADER))
        .flat_map(|(_, v)| v.split(','))
        .any(|v| v.trim() == own_origin)
}

/// Make a value safe for a header and unambiguous: bytes outside printable ASCII, `%` itself,
/// and a space at either end are percent-encoded (an injective mapping, so two subjects never
/// collide: HTTP parsers drop a field value's outer whitespace, RFC 9110 §5.5, so `" alice"`
/// sent as is would reach the origin as `alice`).
#[must_use]
pub fn header_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.len().saturating_sub(1);
    for (i, b) in value.bytes().enumerate() {
        let outer_space = b == b' ' && (i == 0 || i == last);
        if (0x20..0x7f).contains(&b) && b != b'%' && !outer_space {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The identity headers for a forwarded request (the assertion is added separately).
#[must_use]
pub fn identity_headers(identity: Option<&Identity>) -> Vec<(String, String)> {
    let Some(id) = identity else {
        return vec![("X-Auth-Type".to_string(), "anonymous".to_string())];
    };
    let mut out = vec![
        ("X-Auth-Type".to_string(), id.kind().as_str().to_string()),
        ("X-Auth-Subject".to_string(), header_value(id.subject())),
        (
            "X-Auth-Scopes".to_string(),
            header_value(&id.scopes().join(" ")),
        ),
    ];
    let optional = [
        ("X-Auth-Issuer", id.issuer()),
        ("X-Auth-Client-Id", id.client_id()),
        ("X-Auth-Key-Id", id.key_id()),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            out.push((name.to_string(), header_value(v)));
        }
    }
    if let Some(exp) = id.expires_at() {
        out.push(("X-Auth-Expires-At".to_string(), exp.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::CredentialKind;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn reserved_names_in_every_spelling() {
        for n in [
            "x-auth-subject",
            "X-Auth-Subject",
            "X-AUTH-SCOPES",
            "x_auth_type",
            "X_Auth-Key-Id",
            "x-auth-",
        ] {
            assert!(is_reserved_auth_header(n), "{n}");
        }
        for n in [
            "x-authorization",
            "x-auth",
            "authorization",
            "xauth-subject",
            "x-api-key",
        ] {
            assert!(!is_reserved_auth_header(n), "{n}");
        }
    }

    #[test]
    fn an_ipv6_address_is_counted_by_its_64() {
        assert_eq!(address_bucket("192.0.2.7"), "192.0.2.7");
        assert_eq!(address_bucket("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            address_bucket("2001:0DB8:0001:0002:ffff:ffff:ffff:ffff"),
            "2001:db8:1:2::/64"
        );
        assert_ne!(address_bucket("2001:db8:1:3::1"), "2001:db8:1:2::/64");
        assert_eq!(address_bucket("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(address_bucket("not an address"), "not an address");
    }

    #[test]
    fn underscore_spellings_of_vouched_for_headers_never_pass() {
        let incoming = h(&[
            ("CF-Connecting-IP", "198.51.100.7"),
            ("CF_Connecting_IP", "10.0.0.1"),
            ("cf_ipcountry", "XX"),
            ("Authorization", "Bearer verified"),
            ("X_API_Key", "eak_someone-else"),
            ("X-Forwarded-For", "203.0.113.9"),
            ("X_Forwarded_For", "10.0.0.2"),
            ("True_Client_IP", "10.0.0.3"),
            ("X_Custom_Thing", "kept"),
        ]);
        // Even where the dashed spelling passes (credentials forwarded, a trusted proxy).
        let f = Forwarding {
            forward_credentials: true,
            trust_forwarded: true,
        };
        let names: Vec<String> = forward_headers(&incoming, &f, vec![])
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            names,
            [
                "CF-Connecting-IP",
                "Authorization",
                "X-Forwarded-For",
                "X_Custom_Thing"
            ]
        );
    }

    #[test]
    fn forwarding_strips_spoofed_hop_by_hop_and_credentials() {
        let incoming = h(&[
            ("X-Auth-Subject", "admin"),
            ("x_auth_type", "jwt"),
            ("X-AUTH-SCOPES", "root"),
            ("Authorization", "Bearer secret"),
            ("X-API-Key", "eak_secret"),
            ("Connection", "close, X-Custom-Hop"),
            ("X-Custom-Hop", "1"),
            ("Keep-Alive", "5"),
            ("Host", "edge.example"),
            ("Accept", "application/json"),
            ("X-Request-Thing", "kept"),
        ]);
        let out = forward_headers(
            &incoming,
            &Forwarding::default(),
            vec![("X-Auth-Type".into(), "anonymous".into())],
        );
        assert_eq!(
            out,
            h(&[
                ("Accept", "application/json"),
                ("X-Request-Thing", "kept"),
                ("X-Auth-Type", "anonymous")
            ])
        );
    }

    /// The forwarded list written independently of the plan (filter the incoming list, then add
    /// `set`): the specification [`plan_forward`]'s edits must reproduce.
    fn reference(
        incoming: &[(String, String)],
        f: &Forwarding,
        set: Vec<(String, String)>,
    ) -> Vec<(String, String)> {
        let named = connection_named(incoming);
        let mut out: Vec<(String, String)> = incoming
            .iter()
            .filter(|(n, _)| is_token(n))
            .filter(|(n, _)| !is_dropped(n, &named, *f))
            .filter(|(n, _)| !set.iter().any(|(s, _)| s.eq_ignore_ascii_case(n)))
            .cloned()
            .collect();
        out.extend(set);
        out
    }

    fn sorted(mut list: Vec<(String, String)>) -> Vec<(String, String)> {
        for (n, _) in &mut list {
            *n = n.to_ascii_lowercase();
        }
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list
    }

    #[test]
    fn the_plan_deletes_stripped_headers_and_appends_identity() {
        let incoming = h(&[
            ("authorization", "Bearer secret"),
            ("x-auth-subject", "spoof"),
            ("X_Auth_Scopes", "root"),
            ("accept", "application/json"),
        ]);
        let set = h(&[("X-Auth-Type", "jwt"), ("X-Auth-Subject", "alice")]);
        let plan = plan_forward(&incoming, &Forwarding::default(), set.clone()).unwrap();
        assert_eq!(
            plan.delete(),
            ["authorization", "x-auth-subject", "x_auth_scopes"]
        );
        assert_eq!(plan.append(), set.as_slice());
        assert_eq!(
            plan.apply(&incoming),
            h(&[
                ("accept", "application/json"),
                ("X-Auth-Type", "jwt"),
                ("X-Auth-Subject", "alice")
            ])
        );
        assert_eq!(
            plan.to_json().unwrap(),
            r#"[["authorization","x-auth-subject","x_auth_scopes"],[["X-Auth-Type","jwt"],["X-Auth-Subject","alice"]]]"#
        );
    }

    #[test]
    fn a_plan_for_plain_headers_edits_nothing() {
        let incoming = h(&[("accept", "*/*"), ("user-agent", "t")]);
        let plan = plan_forward(&incoming, &Forwarding::default(), vec![]).unwrap();
        assert_eq!(plan, ForwardPlan::default());
        assert_eq!(plan.apply(&incoming), incoming);
    }

    #[test]
    fn a_header_that_cannot_be_sent_refuses_the_plan() {
        let incoming = h(&[("accept", "*/*")]);
        for set in [
            h(&[("X-Auth-Subject", "line\nbreak")]),
            h(&[("X-Auth-Subject", "caf\u{e9}")]),
            h(&[("X Auth", "v")]),
            h(&[("x\u{7f}", "v")]),
            h(&[("", "v")]),
        ] {
            assert_eq!(
                plan_forward(&incoming, &Forwarding::default(), set.clone()),
                Err(Unsendable),
                "{set:?}"
            );
            assert!(forward_headers(&incoming, &Forwarding::default(), set).is_empty());
        }
        // A tab is sendable.
        assert!(plan_forward(&incoming, &Forwarding::default(), h(&[("x-user", "a\tb")])).is_ok());
    }

    #[test]
    fn names_the_runtime_cannot_send_are_neither_deleted_nor_forwarded() {
        let incoming = h(&[("x-auth-subj\u{435}ct", "spoof"), ("accept", "*/*")]);
        let plan = plan_forward(&incoming, &Forwarding::default(), vec![]).unwrap();
        assert!(plan.delete().is_empty());
        assert_eq!(plan.apply(&incoming), h(&[("accept", "*/*")]));
    }

    proptest::proptest! {
        /// The plan applied as the runtime applies it yields exactly the specified list, and never
        /// a client-sent `x-auth-*` header.
        #[test]
        fn the_plan_reproduces_the_forwarded_list(
            incoming in proptest::collection::vec(("(?i)(x-auth-[a-c]|x_auth_a|authorization|accept|connection|keep-alive|x-[a-d])", "[a-c ,]{0,6}"), 0..8),
            forward_credentials: bool,
            trust_forwarded: bool,
            set in proptest::collection::vec(("X-Auth-(Type|Subject|Scopes)|Accept", "[a-c]{0,3}"), 0..4),
        ) {
            // A runtime `Headers` holds lowercase names with one combined value each.
            let mut merged: Vec<(String, String)> = Vec::new();
            for (n, v) in incoming {
                let lower = n.to_ascii_lowercase();
                match merged.iter_mut().find(|(m, _)| *m == lower) {
                    Some((_, existing)) => { existing.push_str(", "); existing.push_str(&v); }
                    None => merged.push((lower, v)),
                }
            }
            let f = Forwarding { forward_credentials, trust_forwarded };
            let plan = plan_forward(&merged, &f, set.clone()).unwrap();
            let out = plan.apply(&merged);
            proptest::prop_assert_eq!(sorted(out.clone()), sorted(reference(&merged, &f, set.clone())));
            for (name, value) in &out {
                proptest::prop_assert!(
                    !is_reserved_auth_header(name) || set.iter().any(|(n, v)| n == name && v == value),
                    "client header forwarded: {}", name
                );
            }
        }
    }

    #[test]
    fn credentials_forwarded_only_when_asked() {
        let incoming = h(&[("Authorization", "Bearer t"), ("x-auth-subject", "spoof")]);
        assert_eq!(
            forward_headers(
                &incoming,
                &Forwarding {
                    forward_credentials: true,
                    trust_forwarded: false
                },
                vec![]
            ),
            h(&[("Authorization", "Bearer t")])
        );
    }

    #[test]
    fn header_values_are_injective_and_safe() {
        assert_eq!(header_value("user@example.com"), "user@example.com");
        assert_eq!(header_value("a\r\nX-Evil: 1"), "a%0D%0AX-Evil: 1");
        assert_eq!(header_value("50%"), "50%25");
        assert_eq!(header_value("é"), "%C3%A9");
        assert_ne!(header_value("%41"), header_value("A"));
        // Outer spaces, which the origin's parser would drop, are kept apart.
        assert_eq!(header_value(" alice"), "%20alice");
        assert_eq!(header_value("alice "), "alice%20");
        assert_eq!(header_value("a b"), "a b");
        assert_eq!(header_value(" "), "%20");
        let seen: std::collections::HashSet<String> = ["alice", " alice", "alice ", "%20alice"]
            .iter()
            .map(|v| header_value(v))
            .collect();
        assert_eq!(seen.len(), 4, "{seen:?}");
    }

    #[test]
    fn identity_headers_per_kind() {
        let id = Identity::for_tests(
            CredentialKind::ApiKey,
            "svc",
            &["read", "write"],
            None,
            None,
            Some("key_1"),
            Some(99),
            None,
        );
        assert_eq!(
            identity_headers(Some(&id)),
            h(&[
                ("X-Auth-Type", "api_key"),
                ("X-Auth-Subject", "svc"),
                ("X-Auth-Scopes", "read write"),
                ("X-Auth-Key-Id", "key_1"),
                ("X-Auth-Expires-At", "99"),
            ])
        );
        assert_eq!(identity_headers(None), h(&[("X-Auth-Type", "anonymous")]));
    }
}
