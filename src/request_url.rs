//! The incoming request's URL, split into the parts the edge needs: its origin, its path and its
//! query.
//!
//! The runtime hands every Worker an absolute URL that it has already parsed and serialised (WHATWG
//! rules: lowercase scheme and host, default port dropped, no fragment). So the edge does not parse
//! it again with a full URL parser (that costs time on every request and pulls IDNA tables into the
//! wasm); it splits the serialised form, and refuses anything that does not have that shape. The
//! path stays percent-encoded here: [`crate::route`] decodes it for matching and builds the
//! canonical path the origin receives (the path that matched, re-encoded); the query is
//! forwarded byte for byte.

/// A request URL split at its component boundaries. Borrowed from the URL text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestUrl<'a> {
    /// `scheme://host[:port]`, e.g. `https://edge.example`.
    pub origin: &'a str,
    /// Starts with `/`, still percent-encoded.
    pub path: &'a str,
    /// Without the `?`; `None` when the URL has no `?`.
    pub query: Option<&'a str>,
}

/// Why a request URL was refused (the edge answers 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadRequestUrl;

impl<'a> RequestUrl<'a> {
    /// Split `text`, an absolute `http` or `https` URL as the runtime serialises it.
    ///
    /// # Errors
    /// Any other scheme, a missing or credential-carrying authority, or a control character,
    /// space or non-ASCII byte anywhere (the runtime percent-encodes those).
    pub fn parse(text: &'a str) -> Result<Self, BadRequestUrl> {
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(BadRequestUrl);
        }
        let after_scheme = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
            .ok_or(BadRequestUrl)?;
        let scheme_len = text.len() - after_scheme.len();
        // The fragment never reaches a server; drop it if a caller left one.
        let without_fragment = text.split('#').next().unwrap_or(text);
        let authority_len = after_scheme
            .find(['/', '?', '#'])
            .unwrap_or(after_scheme.len());
        let authority = after_scheme.get(..authority_len).ok_or(BadRequestUrl)?;
        if authority.is_empty() || authority.contains('@') {
            return Err(BadRequestUrl);
        }
        let origin_end = scheme_len + authority_len;
        let origin = text.get(..origin_end).ok_or(BadRequestUrl)?;
        let rest = without_fragment.get(origin_end..).unwrap_or("");
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        let path = if path.is_empty() { "/" } else { path };
        if !path.starts_with('/') {
            return Err(BadRequestUrl);
        }
        Ok(RequestUrl {
            origin,
            path,
            query,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Option<(&str, &str, Option<&str>)> {
        RequestUrl::parse(text)
            .ok()
            .map(|u| (u.origin, u.path, u.query))
    }

    #[test]
    fn splits_origin_path_and_query() {
        assert_eq!(
            parse("https://edge.example/v1/items?a=1&b=%2F"),
            Some(("https://edge.example", "/v1/items", Some("a=1&b=%2F")))
        );
        assert_eq!(
            parse("http://127.0.0.1:8787/"),
            Some(("http://127.0.0.1:8787", "/", None))
        );
        assert_eq!(
            parse("https://edge.example"),
            Some(("https://edge.example", "/", None))
        );
        assert_eq!(
            parse("https://edge.example?x"),
            Some(("https://edge.example", "/", Some("x")))
        );
        assert_eq!(
            parse("https://edge.example/a?"),
            Some(("https://edge.example", "/a", Some("")))
        );
        assert_eq!(
            parse("https://[::1]:8443/a/%2e%2e/b"),
            Some(("https://[::1]:8443", "/a/%2e%2e/b", None))
        );
    }

    #[test]
    fn drops_the_fragment() {
        assert_eq!(
            parse("https://e.example/p?q=1#frag"),
            Some(("https://e.example", "/p", Some("q=1")))
        );
        assert_eq!(
            parse("https://e.example/p#f?x"),
            Some(("https://e.example", "/p", None))
        );
    }

    #[test]
    fn refuses_what_the_runtime_never_sends() {
        for bad in [
            "",
            "/relative",
            "ftp://e.example/",
            "https:///path",
            "https://user:pw@e.example/",
            "https://e.example/a b",
            "https://e.example/\u{e9}",
            "https://e.example/\t",
            "HTTPS://e.example/",
        ] {
            assert!(RequestUrl::parse(bad).is_err(), "{bad:?}");
        }
    }
}
