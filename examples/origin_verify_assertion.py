"""An origin that trusts edge-auth's identity only with a valid X-Auth-Assertion bound to the
very request it arrives on. The Python twin of examples/origin-verify-assertion.mjs.

    pip install 'pyjwt[crypto]'        # EdDSA needs the `cryptography` extra
    EDGE_JWKS_URL=https://api.example.com/_auth/jwks.json \\
    EDGE_ISSUER=https://api.example.com \\
    EXPECTED_BASE=https://origin.internal.example \\
    python3 examples/origin_verify_assertion.py

Environment (the same names as the Node example):
  EDGE_JWKS_URL            the edge's {admin_path}/jwks.json (required)
  EDGE_ISSUER              the exact `iss`: config `assertion.issuer`, default the edge's own origin (required)
  EXPECTED_BASE            this origin's external base URL, scheme://host[:port], exactly as the
                           edge's `origin` config spells it: `htu` must be this + the request path (required)
  EDGE_AUDIENCE            the exact `aud`: config `assertion.audience` (default: EXPECTED_BASE,
                           which is also the edge's default)
  ASSERTION_TTL_SECONDS    the edge's `assertion.ttl_seconds` (default 60): the oldest `iat` accepted
  CLOCK_TOLERANCE_SECONDS  (default 5)
  MAX_REPLAY_ENTRIES       the replay cache's cap (default 10000), see ReplayCache
  HOST (default 127.0.0.1), PORT (default 9000; 0 picks a free port). The bound URL is printed on
  stdout as "origin listening on http://HOST:PORT".

Standard library http.server plus PyJWT. Anything else gets
401 {"error":"invalid_assertion","reason":"..."}: the request did not come through the edge, or
not as this request.
"""

import json
import os
import sys
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import jwt

TYP = "edge-auth-assertion+jwt"
MAX_BODY_BYTES = 1024 * 1024


class Refused(Exception):
    def __init__(self, reason, status=401):
        super().__init__(reason)
        self.reason = reason
        self.status = status


class ReplayCache:
    """Seen `jti`s, each kept until its assertion can no longer be accepted anyway (exp + tolerance).

    Bounded: when it holds `cap` live entries, new assertions are refused (503) rather than an old
    entry forgotten, since forgetting one would let that assertion be replayed. Genuine assertions
    only come from the edge, so size the cap above (requests per second) x (ttl + tolerance).
    In memory, per process: with several origin instances use a shared store (e.g. Redis
    `SET jti 1 NX EXAT exp`) instead.
    """

    def __init__(self, cap):
        self.cap = cap
        self.seen = OrderedDict()  # jti -> forget-after (Unix seconds); insertion order ~ expiry order
        self.lock = threading.Lock()

    def add(self, jti, forget_after, now):
        """Record `jti`; False when it was already seen. Raises Refused when full."""
        with self.lock:
            while self.seen and next(iter(self.seen.values())) < now:  # cheap prune from the front
                self.seen.popitem(last=False)
            until = self.seen.get(jti)
            if until is not None and until >= now:
                return False
            if len(self.seen) >= self.cap:
                for k in [k for k, t in self.seen.items() if t < now]:  # full sweep, only when full
                    del self.seen[k]
                if len(self.seen) >= self.cap:
                    raise Refused("replay_cache_full", 503)
            self.seen[jti] = forget_after
            return True


def _reason(e):
    """PyJWT's exceptions, as the short reasons both examples answer with."""
    if isinstance(e, Refused):
        return e.reason
    if isinstance(e, jwt.ExpiredSignatureError):
        return "expired"
    if isinstance(e, jwt.InvalidIssuerError):
        return "iss"
    if isinstance(e, jwt.InvalidAudienceError):
        return "aud"
    if isinstance(e, jwt.ImmatureSignatureError):
        return "iat"
    if isinstance(e, jwt.MissingRequiredClaimError):
        return f"missing_{e.claim}"
    if isinstance(e, jwt.InvalidSignatureError):
        return "signature"
    if isinstance(e, jwt.InvalidAlgorithmError):
        return "alg"
    if isinstance(e, jwt.PyJWKClientConnectionError):
        return "jwks_unavailable"
    if isinstance(e, jwt.PyJWKClientError):
        return "key"
    return "malformed"


def origin_of(url):
    """scheme://host[:port] as the edge writes it: lower case, default port dropped."""
    u = urlsplit(url)
    if u.scheme not in ("http", "https") or not u.hostname or u.path not in ("", "/") or u.query:
        raise ValueError("EXPECTED_BASE must be scheme://host[:port]")
    host = f"[{u.hostname}]" if ":" in u.hostname else u.hostname
    default = {"http": 80, "https": 443}[u.scheme]
    return f"{u.scheme}://{host}" + (f":{u.port}" if u.port not in (None, default) else "")


class AssertionVerifier:
    def __init__(self, jwks_url, issuer, expected_base, audience=None, ttl_seconds=60,
                 clock_tolerance_seconds=5, max_replay_entries=10_000):
        self.base = origin_of(expected_base)
        self.issuer = issuer
        self.audience = audience or self.base
        self.ttl = ttl_seconds
        self.tolerance = clock_tolerance_seconds
        # Caches the key set for 5 minutes; an unknown `kid` makes it fetch again.
        self.jwks = jwt.PyJWKClient(jwks_url, cache_jwk_set=True, lifespan=300, timeout=5)
        self.replay = ReplayCache(max_replay_entries)

    def verify(self, method, path, headers, body):
        token = headers.get("x-auth-assertion")
        if not token:
            raise Refused("missing")
        key = self.jwks.get_signing_key_from_jwt(token)
        decoded = jwt.decode_complete(
            token,
            key,
            algorithms=["EdDSA"],
            issuer=self.issuer,
            audience=self.audience,
            leeway=self.tolerance,
            options={
                "require": ["iss", "aud", "iat", "exp", "jti", "htm", "htu"],
                "strict_aud": True,  # one audience string, exactly ours
            },
        )
        if decoded["header"].get("typ") != TYP:
            raise Refused("typ")
        claims = decoded["payload"]
        now = int(time.time())
        # PyJWT has no maxTokenAge: never accept an assertion older than its lifetime.
        if not isinstance(claims["iat"], (int, float)) or now - claims["iat"] > self.ttl + self.tolerance:
            raise Refused("too_old")
        if not isinstance(claims["jti"], str) or not claims["jti"]:
            raise Refused("missing_jti")

        # Bound to this request: method, URL without query, and the body's length.
        if claims["htm"] != method:
            raise Refused("htm")
        if claims["htu"] != self.base + path:
            raise Refused("htu")
        if "content_length" in claims:
            declared = claims["content_length"]
            if type(declared) is not int or declared != len(body):
                raise Refused("content_length")
        elif body:
            raise Refused("content_length")  # a body the edge did not declare: refuse

        # Last, so a refused request never uses up the jti of the genuine one.
        if not self.replay.add(claims["jti"], claims["exp"] + self.tolerance, now):
            raise Refused("replay")
        return claims


def make_handler(verifier):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _read_body(self):
            if "chunked" in self.headers.get("transfer-encoding", "").lower():
                body = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return body
                    body += self.rfile.read(size)
                    self.rfile.readline()
                    if len(body) > MAX_BODY_BYTES:
                        raise Refused("body_too_large", 413)
            length = int(self.headers.get("content-length") or 0)
            if length < 0:
                raise ValueError("negative content-length")
            if length > MAX_BODY_BYTES:
                raise Refused("body_too_large", 413)
            return self.rfile.read(length)

        def _handle(self):
            try:
                body = self._read_body()
                path = self.path.split("?")[0]
                headers = {k.lower(): v for k, v in self.headers.items()}
                identity = verifier.verify(self.command, path, headers, body)
                self._send(200, {"identity": identity, "method": self.command, "path": path,
                                 "body_bytes": len(body)})
            except Exception as e:  # noqa: BLE001 - every failure is a refusal
                status = e.status if isinstance(e, Refused) else 401
                if status == 413:
                    self.close_connection = True
                self._send(status, {"error": "invalid_assertion", "reason": _reason(e)})

        def _send(self, status, obj):
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

        def log_message(self, fmt, *args):  # one line per request on stderr, never the assertion
            sys.stderr.write("%s %s\n" % (self.command, self.path.split("?")[0]))

    return Handler


def main():
    env = os.environ
    for name in ("EDGE_JWKS_URL", "EDGE_ISSUER", "EXPECTED_BASE"):
        if not env.get(name):
            sys.exit(f"{name} is required")
    verifier = AssertionVerifier(
        jwks_url=env["EDGE_JWKS_URL"],
        issuer=env["EDGE_ISSUER"],
        expected_base=env["EXPECTED_BASE"],
        audience=env.get("EDGE_AUDIENCE") or None,
        ttl_seconds=int(env.get("ASSERTION_TTL_SECONDS") or 60),
        clock_tolerance_seconds=int(env.get("CLOCK_TOLERANCE_SECONDS") or 5),
        max_replay_entries=int(env.get("MAX_REPLAY_ENTRIES") or 10_000),
    )
    host = env.get("HOST") or "127.0.0.1"
    server = ThreadingHTTPServer((host, int(env.get("PORT", "9000") or 0)), make_handler(verifier))
    print(f"origin listening on http://{host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
