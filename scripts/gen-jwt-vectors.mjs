#!/usr/bin/env node
// Regenerates the JWT test vectors in tests/vectors/jwt/ using only Node's built-in `node:crypto`.
//
//   node scripts/gen-jwt-vectors.mjs
//
// Keys are kept in tests/vectors/jwt/keys.json (private JWKs) and reused when present, so
// regenerating changes only randomized signatures (ECDSA, PSS), never the keys or expectations.
// Delete keys.json to mint fresh keys. Every token has an expected outcome and reason code that
// tests/jwt_vectors.rs asserts; the RFC examples are checked here with node:crypto as well.

import {
  constants,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
} from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const OUT = new URL('../tests/vectors/jwt/', import.meta.url);
mkdirSync(new URL('jwks/', OUT), { recursive: true });

const NOW = 1_900_000_000; // 2030-03-17: the fixed `now` the tests pass in
const FAR = 4_102_444_800; // 2100-01-01: far-future expiry
const ISS = 'https://issuer.example';
const OTHER = 'https://other.example';
const AUD = 'https://api.example';
const HS_SECRET_NAME = 'JWT_HS256_SECRET';

// ---------------------------------------------------------------------------------------------
// Keys

const keysPath = new URL('keys.json', OUT);
const KEY_SPECS = {
  'rsa-a': ['rsa', { modulusLength: 2048 }],
  'rsa-b': ['rsa', { modulusLength: 2048 }],
  'rsa-weak': ['rsa', { modulusLength: 1024 }],
  'other-rsa': ['rsa', { modulusLength: 2048 }],
  'ec-a': ['ec', { namedCurve: 'P-256' }],
  'ec-b': ['ec', { namedCurve: 'P-256' }],
  'ec-mislabelled': ['ec', { namedCurve: 'P-256' }],
  'ec-k1-as-p256': ['ec', { namedCurve: 'secp256k1' }],
  'ed-a': ['ed25519', {}],
  attacker: ['ed25519', {}],
  'attacker-rsa': ['rsa', { modulusLength: 2048 }],
  // ES384 / ES512 and an RSA key bound to PS384 by its JWK `alg` (appended: existing keys stay).
  'ec384-a': ['ec', { namedCurve: 'P-384' }],
  'ec521-a': ['ec', { namedCurve: 'P-521' }],
  'rsa-ps384': ['rsa', { modulusLength: 3072 }],
  'ec384-as-p521': ['ec', { namedCurve: 'P-384' }],
  'ec521-as-p384': ['ec', { namedCurve: 'P-521' }],
  'ec384-alg-es256': ['ec', { namedCurve: 'P-384' }],
};

let stored = existsSync(keysPath) ? JSON.parse(readFileSync(keysPath, 'utf8')) : { keys: {} };
for (const [kid, [type, opts]] of Object.entries(KEY_SPECS)) {
  if (!stored.keys[kid]) {
    const { privateKey } = generateKeyPairSync(type, opts);
    stored.keys[kid] = privateKey.export({ format: 'jwk' });
  }
}
stored.hs256_secret ??= 'vectors-only-hs256-secret-0123456789abcdefghij';
writeFileSync(keysPath, JSON.stringify(stored, null, 2) + '\n');

const priv = (kid) => createPrivateKey({ key: stored.keys[kid], format: 'jwk' });
const pubJwk = (kid) => {
  const { d, p, q, dp, dq, qi, ...pub } = stored.keys[kid];
  return pub;
};

// ---------------------------------------------------------------------------------------------
// JWKS documents

const entry = (kid, extra = {}) => ({ ...pubJwk(kid), kid, ...extra });
const main = {
  keys: [
    entry('rsa-a', { use: 'sig' }),
    entry('ec-a', { use: 'sig', alg: 'ES256' }),
    entry('ed-a', { alg: 'EdDSA' }),
    entry('rsa-weak', { use: 'sig', alg: 'RS256' }),
    { ...entry('ec-mislabelled'), crv: 'P-384' },
    entry('ec-k1-as-p256', { crv: 'P-256' }),
    entry('rsa-b', { use: 'enc' }),
    { kty: 'oct', kid: 'hmac', k: Buffer.from(stored.hs256_secret).toString('base64url') },
    { kty: 'RSA', kid: 'rsa-a', n: pubJwk('rsa-b').n, e: 'AQAB' },
    entry('ec384-a', { use: 'sig', alg: 'ES384' }),
    entry('ec521-a', { use: 'sig' }),
    entry('rsa-ps384', { use: 'sig', alg: 'PS384' }),
    // Curve labels that contradict the coordinates' length, and a curve contradicting its alg.
    { ...entry('ec384-as-p521'), crv: 'P-521' },
    { ...entry('ec521-as-p384'), crv: 'P-384' },
    entry('ec384-alg-es256', { alg: 'ES256' }),
  ],
};
const rotated = { keys: [entry('rsa-a'), entry('rsa-b'), entry('ec-a'), entry('ed-a')] };
const other = { keys: [entry('other-rsa', { alg: 'RS256' })] };
const documents = { 'main.json': main, 'rotated.json': rotated, 'other.json': other };
for (const [file, doc] of Object.entries(documents)) {
  writeFileSync(new URL(`jwks/${file}`, OUT), JSON.stringify(doc, null, 2) + '\n');
}

// ---------------------------------------------------------------------------------------------
// Configuration the tests build their authenticator from

const config = {
  now: NOW,
  issuers: [
    {
      issuer: ISS,
      jwks_uri: `${ISS}/.well-known/jwks.json`,
      audiences: [AUD, 'urn:second-api'],
      algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'HS256'],
      leeway_seconds: 60,
      hs256_secret: HS_SECRET_NAME,
    },
    {
      issuer: OTHER,
      jwks_uri: `${OTHER}/jwks.json`,
      audiences: [AUD],
      algorithms: ['RS256'],
    },
  ],
  secrets: { [HS_SECRET_NAME]: stored.hs256_secret },
  documents: {
    [`${ISS}/.well-known/jwks.json`]: 'jwks/main.json',
    [`${OTHER}/jwks.json`]: 'jwks/other.json',
  },
  jwks_expectations: {
    'jwks/main.json': { usable: ['rsa-a', 'ec-a', 'ed-a', 'ec-k1-as-p256', 'ec384-a', 'ec521-a', 'rsa-ps384'], skipped: 8 },
    'jwks/rotated.json': { usable: ['rsa-a', 'rsa-b', 'ec-a', 'ed-a'], skipped: 0 },
    'jwks/other.json': { usable: ['other-rsa'], skipped: 0 },
  },
};
writeFileSync(new URL('config.json', OUT), JSON.stringify(config, null, 2) + '\n');

// ---------------------------------------------------------------------------------------------
// Tokens

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const SIGNERS = {
  RS256: (key, data) => sign('sha256', data, key),
  PS256: (key, data) =>
    sign('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }),
  RS384: (key, data) => sign('sha384', data, key),
  RS512: (key, data) => sign('sha512', data, key),
  PS384: (key, data) =>
    sign('sha384', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }),
  PS512: (key, data) =>
    sign('sha512', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }),
  ES256: (key, data) => sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }),
  ES384: (key, data) => sign('sha384', data, { key, dsaEncoding: 'ieee-p1363' }),
  ES512: (key, data) => sign('sha512', data, { key, dsaEncoding: 'ieee-p1363' }),
  EdDSA: (key, data) => sign(null, data, key),
  HS256: (secret, data) => createHmac('sha256', secret).update(data).digest(),
};

const claims = (extra = {}) => ({
  iss: ISS,
  aud: AUD,
  sub: 'user-123',
  exp: FAR,
  iat: NOW - 10,
  ...extra,
});

/** A compact JWS. `header`/`payload` are objects or raw JSON text (to write duplicates). */
function jws({ header, payload, alg, key, signature }) {
  const h = typeof header === 'string' ? header : JSON.stringify(header);
  const p = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const input = `${b64u(h)}.${b64u(p)}`;
  const sig = signature ?? SIGNERS[alg](key, Buffer.from(input));
  return `${input}.${b64u(sig)}`;
}

const tokens = [];
const add = (name, description, token, expect, extra = {}) =>
  tokens.push({ name, description, token, ...expect, ...extra });
const ok = (identity) => ({ outcome: 'valid', identity });
const bad = (reason) => ({ outcome: 'invalid', reason });

const std = (alg, kid, keyName = kid, extraClaims = {}, extraHeader = {}) =>
  jws({
    header: { alg, typ: 'JWT', ...(kid ? { kid } : {}), ...extraHeader },
    payload: claims(extraClaims),
    alg,
    key: alg === 'HS256' ? stored.hs256_secret : priv(keyName),
  });

// Valid tokens, one per algorithm and claim shape.
const who = (extra = {}) => ({ sub: 'user-123', scopes: [], client_id: null, ...extra });
add('valid_rs256', 'RS256 with kid', std('RS256', 'rsa-a'), ok(who({ kid: 'rsa-a' })));
add('valid_ps256', 'PS256 with the same RSA key', std('PS256', 'rsa-a'), ok(who({ kid: 'rsa-a' })));
add('valid_es256', 'ES256 (raw r||s)', std('ES256', 'ec-a'), ok(who({ kid: 'ec-a' })));
add('valid_eddsa', 'Ed25519', std('EdDSA', 'ed-a'), ok(who({ kid: 'ed-a' })));
add('valid_hs256', 'HS256 with the configured secret', std('HS256', null), ok(who({ kid: null })));
add(
  'valid_eddsa_without_kid',
  'no kid: the one Ed25519 key in the set is used',
  std('EdDSA', null, 'ed-a'),
  ok(who({ kid: null })),
);
add(
  'valid_scope_and_client_id',
  'scope string, client_id preferred over azp, audience array',
  std('ES256', 'ec-a', 'ec-a', {
    aud: ['urn:unrelated', 'urn:second-api'],
    scope: 'read write read',
    client_id: 'svc-1',
    azp: 'spa',
  }),
  ok(who({ kid: 'ec-a', scopes: ['read', 'write'], client_id: 'svc-1' })),
);
add(
  'valid_scp_array_azp',
  'scp array, azp as client id',
  std('RS256', 'rsa-a', 'rsa-a', { scp: ['admin', 'read'], azp: 'spa' }),
  ok(who({ kid: 'rsa-a', scopes: ['admin', 'read'], client_id: 'spa' })),
);
add(
  'valid_exp_within_leeway',
  'exp 59 s ago with 60 s leeway',
  std('EdDSA', 'ed-a', 'ed-a', { exp: NOW - 59 }),
  ok(who({ kid: 'ed-a' })),
);
add(
  'valid_nbf_within_leeway',
  'nbf 60 s ahead with 60 s leeway',
  std('EdDSA', 'ed-a', 'ed-a', { nbf: NOW + 60 }),
  ok(who({ kid: 'ed-a' })),
);
add(
  'valid_fractional_dates',
  'fractional NumericDates are numbers too',
  std('EdDSA', 'ed-a', 'ed-a', { exp: FAR + 0.5, iat: NOW - 0.25, nbf: NOW - 1.5 }),
  ok(who({ kid: 'ed-a' })),
);

// alg none in every spelling, with and without a signature.
for (const none of ['none', 'None', 'NONE', 'nOnE']) {
  add(`alg_${none}`, `alg "${none}" with a dummy signature`, jws({ header: { alg: none }, payload: claims(), signature: Buffer.from('x') }), bad('alg_none'));
}
add(
  'alg_none_unsigned',
  'classic unsecured JWS with an empty signature',
  jws({ header: { alg: 'none' }, payload: claims(), signature: Buffer.alloc(0) }),
  bad('malformed_token'),
);
add('alg_unsupported', 'HS512 is not supported', std('RS256', 'rsa-a', 'rsa-a', {}, { alg: 'HS512' }), bad('alg_unsupported'));
add('alg_unsupported_es256k', 'ES256K is not supported', std('ES256', 'ec-a', 'ec-a', {}, { alg: 'ES256K' }), bad('alg_unsupported'));

// RS256 → HS256 key confusion: HMAC keyed with the RSA public key (PEM and JWK n).
const rsaPem = createPublicKey({ key: pubJwk('rsa-a'), format: 'jwk' }).export({ type: 'spki', format: 'pem' });
const confusion = (iss, keyBytes) =>
  jws({ header: { alg: 'HS256', kid: 'rsa-a' }, payload: claims({ iss }), alg: 'HS256', key: keyBytes });
add('key_confusion_pem', 'HS256 keyed with the RSA public key PEM (issuer allows HS256)', confusion(ISS, rsaPem), bad('bad_signature'));
add('key_confusion_n', 'HS256 keyed with the raw RSA modulus', confusion(ISS, Buffer.from(pubJwk('rsa-a').n, 'base64url')), bad('bad_signature'));
add('key_confusion_other_issuer', 'HS256 against an issuer that only allows RS256', confusion(OTHER, rsaPem), bad('alg_not_allowed'));
const confusionKid = (kid, keyBytes) =>
  jws({ header: { alg: 'HS256', kid }, payload: claims(), alg: 'HS256', key: keyBytes });

// Psychic signatures (CVE-2022-21449) and other malformed ECDSA signatures.
const es = (sig) => jws({ header: { alg: 'ES256', kid: 'ec-a' }, payload: claims(), signature: sig });
add('psychic_es256_zero', 'ES256 with r = s = 0', es(Buffer.alloc(64)), bad('malformed_signature'));
const order = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex');
add('psychic_es256_order', 'ES256 with r = s = n', es(Buffer.concat([order, order])), bad('malformed_signature'));
add('es256_der_signature', 'ES256 with a DER signature instead of raw r||s', jws({
  header: { alg: 'ES256', kid: 'ec-a' }, payload: claims(),
  signature: sign('sha256', Buffer.from('x'), { key: priv('ec-a'), dsaEncoding: 'der' }),
}), bad('malformed_signature'));

// Keys carried or pointed at by the header.
const attackerJwk = { ...pubJwk('attacker') };
const signedByAttacker = (extraHeader) =>
  jws({ header: { alg: 'EdDSA', ...extraHeader }, payload: claims(), alg: 'EdDSA', key: priv('attacker') });
add('embedded_jwk', 'header jwk with the attacker key', signedByAttacker({ jwk: attackerJwk }), bad('embedded_key_rejected'));
add('header_jku', 'header jku pointing at an attacker JWKS', signedByAttacker({ kid: 'ed-a', jku: 'https://evil.example/jwks.json' }), bad('embedded_key_rejected'));
add('header_x5u', 'header x5u', signedByAttacker({ x5u: 'https://evil.example/cert.pem' }), bad('embedded_key_rejected'));
add('header_x5c', 'header x5c', signedByAttacker({ x5c: ['MIIB'] }), bad('embedded_key_rejected'));

// kid injection and cross-issuer kids.
add('kid_path_traversal', 'kid with path traversal', signedByAttacker({ kid: '../../../../dev/null' }), bad('unknown_kid'));
add('kid_sql', 'SQL-ish kid', signedByAttacker({ kid: "x' OR '1'='1" }), bad('unknown_kid'));
add('kid_case_changed', 'kids are case-sensitive', std('EdDSA', 'ED-A', 'ed-a'), bad('unknown_kid'));
add('kid_of_other_issuer', "another issuer's kid and key", std('RS256', 'other-rsa', 'other-rsa'), bad('unknown_kid'));
add(
  'kid_of_first_issuer_claiming_other',
  'token for the other issuer signed with a key of the first',
  std('RS256', 'rsa-a', 'rsa-a', { iss: OTHER }),
  bad('unknown_kid'),
);
add('kid_alg_mismatch_ec', 'RS256 with the kid of an EC key', std('RS256', 'ec-a', 'rsa-a'), bad('alg_key_mismatch'));
add('kid_alg_mismatch_declared', 'ES256 under the kid of an Ed25519 key', std('ES256', 'ed-a', 'ec-a'), bad('alg_key_mismatch'));

// Header rules.
add('crit', 'crit present', std('EdDSA', 'ed-a', 'ed-a', {}, { crit: ['exp'], exp: 1 }), bad('crit_unsupported'));
add('cty_nested', 'cty JWT (nested token)', std('EdDSA', 'ed-a', 'ed-a', {}, { cty: 'JWT' }), bad('nested_token_unsupported'));
add('typ_dpop', 'typ of another token type', std('EdDSA', 'ed-a', 'ed-a', {}, { typ: 'dpop+jwt' }), bad('typ_not_allowed'));

// Duplicate members.
const edRaw = (header, payload) => jws({ header, payload, alg: 'EdDSA', key: priv('ed-a') });
const claimsText = JSON.stringify(claims());
add('duplicate_header_alg', 'header with two alg members', edRaw('{"alg":"EdDSA","kid":"ed-a","alg":"HS256"}', claimsText), bad('duplicate_member'));
add('duplicate_payload_sub', 'payload with two sub members', edRaw({ alg: 'EdDSA', kid: 'ed-a' }, claimsText.replace('{', '{"sub":"admin",')), bad('duplicate_member'));
add('duplicate_payload_nested', 'duplicate inside a nested object', edRaw({ alg: 'EdDSA', kid: 'ed-a' }, claimsText.replace('{', '{"ext":{"role":"user","role":"admin"},')), bad('duplicate_member'));

// Type-confused NumericDates.
const ed = (extraClaims) => std('EdDSA', 'ed-a', 'ed-a', extraClaims);
add('exp_string', 'exp as a string', ed({ exp: String(FAR) }), bad('invalid_exp'));
add('exp_negative', 'exp negative', ed({ exp: -1 }), bad('invalid_exp'));
add('exp_2_53', 'exp at 2^53', edRaw({ alg: 'EdDSA', kid: 'ed-a' }, claimsText.replace(String(FAR), '9007199254740992')), bad('invalid_exp'));
add('exp_huge', 'exp at 1e300', edRaw({ alg: 'EdDSA', kid: 'ed-a' }, claimsText.replace(String(FAR), '1e300')), bad('invalid_exp'));
add('exp_bool', 'exp as a boolean', ed({ exp: true }), bad('invalid_exp'));
add('exp_null', 'exp null', ed({ exp: null }), bad('invalid_exp'));
add('exp_missing', 'no exp', ed({ exp: undefined }), bad('missing_exp'));
add('nbf_string', 'nbf as a string', ed({ nbf: String(NOW) }), bad('invalid_nbf'));
add('iat_array', 'iat as an array', ed({ iat: [NOW] }), bad('invalid_iat'));

// Time edges (leeway 60).
add('expired', 'exp 60 s ago: outside the leeway', ed({ exp: NOW - 60 }), bad('expired'));
add('not_yet_valid', 'nbf 61 s ahead', ed({ nbf: NOW + 61 }), bad('not_yet_valid'));
add('iat_future', 'iat 61 s ahead', ed({ iat: NOW + 61 }), bad('iat_in_future'));

// Audience and issuer look-alikes.
for (const [n, aud] of [['trailing_slash', `${AUD}/`], ['case', 'https://API.example'], ['prefix', 'https://api.exampl'], ['suffix', `${AUD}.evil`], ['array', ['urn:x', `${AUD}/`]]]) {
  add(`aud_${n}`, `audience look-alike (${n})`, ed({ aud }), bad('audience_mismatch'));
}
add('aud_missing', 'no aud', ed({ aud: undefined }), bad('missing_aud'));
add('aud_number', 'aud of the wrong type', ed({ aud: 5 }), bad('invalid_aud'));
for (const [n, iss] of [['trailing_slash', `${ISS}/`], ['case', 'https://Issuer.example'], ['prefix', 'https://issuer.exampl'], ['suffix', `${ISS}.evil`]]) {
  add(`iss_${n}`, `issuer look-alike (${n})`, ed({ iss }), bad('unknown_issuer'));
}
add('iss_missing', 'no iss', ed({ iss: undefined }), bad('missing_iss'));
add('sub_missing', 'no sub', ed({ sub: undefined }), bad('missing_sub'));
add('sub_empty', 'empty sub', ed({ sub: '' }), bad('invalid_sub'));
add('sub_header_injection', 'sub with CRLF', ed({ sub: 'a\r\nX-Auth-Subject: admin' }), bad('invalid_sub'));

// Encoding and shape.
const good = std('EdDSA', 'ed-a');
const [gh, gp, gs] = good.split('.');
add('oversized', 'token over 16 KiB', ed({ pad: 'x'.repeat(16 * 1024) }), bad('token_too_large'));
add('padding', 'signature with = padding', `${good}==`, bad('invalid_base64url'));
add('plus_slash', 'standard base64 alphabet (+ and /)', `${gh}.${gp}.${gs.slice(0, -2)}+/`, bad('invalid_base64url'));
add('whitespace', 'whitespace inside a segment', `${gh}.${gp.slice(0, 8)} ${gp.slice(8)}.${gs}`, bad('invalid_base64url'));
// 64-byte signature: 86 chars, the last carries 4 unused bits that must be zero.
const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const noncanon = gs.slice(0, -1) + alphabet[alphabet.indexOf(gs.at(-1)) | 1];
add('non_canonical_base64', 'non-zero trailing bits in the signature', `${gh}.${gp}.${noncanon}`, bad('invalid_base64url'));
add('jwe_five_segments', 'a JWE (5 segments)', `${b64u('{"alg":"RSA-OAEP","enc":"A256GCM"}')}.AAAA.AAAA.AAAA.AAAA`, bad('encrypted_token_unsupported'));
add('four_segments', 'four segments', `${good}.AAAA`, bad('malformed_token'));
add('header_not_object', 'header is a JSON array', `${b64u('["EdDSA"]')}.${gp}.${gs}`, bad('malformed_header'));
add('payload_not_json', 'payload is not JSON', jws({ header: { alg: 'EdDSA', kid: 'ed-a' }, payload: 'not json', alg: 'EdDSA', key: priv('ed-a') }), bad('malformed_payload'));

// Wrong keys and tampering.
add('wrong_key_for_kid_ec', 'ES256 signed by ec-b under kid ec-a', std('ES256', 'ec-a', 'ec-b'), bad('bad_signature'));
add('wrong_key_for_kid_rsa', 'RS256 signed by rsa-b under kid rsa-a', std('RS256', 'rsa-a', 'rsa-b'), bad('bad_signature'));
add('rs256_as_ps256', 'an RS256 signature labelled PS256', `${b64u(JSON.stringify({ alg: 'PS256', kid: 'rsa-a' }))}.${std('RS256', 'rsa-a').split('.').slice(1).join('.')}`, bad('bad_signature'));
add('tampered_payload', 'payload changed after signing', `${gh}.${b64u(JSON.stringify(claims({ sub: 'admin' })))}.${gs}`, bad('bad_signature'));
add('hs256_wrong_secret', 'HS256 with another 32-byte secret', jws({ header: { alg: 'HS256' }, payload: claims(), alg: 'HS256', key: 'another-secret-that-is-32-bytes-long!!' }), bad('bad_signature'));
add('rsa_short_signature', 'RS256 signature one byte short', `${std('RS256', 'rsa-a').split('.').slice(0, 2).join('.')}.${b64u(Buffer.alloc(255, 1))}`, bad('malformed_signature'));

// Keys the JWKS parser must skip (or the backend must refuse).
add('rsa_1024_key', 'signed by an RSA-1024 key published in the JWKS', std('RS256', 'rsa-weak'), bad('unknown_kid'));
add('mislabelled_curve', 'P-256 key published as P-384', std('ES256', 'ec-mislabelled'), bad('unknown_kid'));
add('enc_key', 'signed by a key published with use enc', std('RS256', 'rsa-b'), bad('unknown_kid'));
add('secp256k1_as_p256', 'secp256k1 point labelled P-256: the backend refuses it', jws({
  header: { alg: 'ES256', kid: 'ec-k1-as-p256' }, payload: claims(), signature: Buffer.concat([Buffer.alloc(32, 1), Buffer.alloc(32, 2)]),
}), bad('key_rejected'));

// ---------------------------------------------------------------------------------------------
// ES384 / ES512 (RFC 7518 §3.4), RS384 / RS512 (§3.3), PS384 / PS512 (§3.5): valid tokens and
// the attacks above repeated for them.

add('valid_rs384', 'RS384 with the RSA key', std('RS384', 'rsa-a'), ok(who({ kid: 'rsa-a' })));
add('valid_rs512', 'RS512 with the RSA key', std('RS512', 'rsa-a'), ok(who({ kid: 'rsa-a' })));
add('valid_ps384', 'PS384 (48-byte salt) with the RSA key', std('PS384', 'rsa-a'), ok(who({ kid: 'rsa-a' })));
add('valid_ps512', 'PS512 (64-byte salt) with the RSA key', std('PS512', 'rsa-a'), ok(who({ kid: 'rsa-a' })));
add('valid_ps384_bound_key', 'PS384 with a 3072-bit key whose JWK says PS384', std('PS384', 'rsa-ps384'), ok(who({ kid: 'rsa-ps384' })));
add('valid_es384', 'ES384 (raw r||s, 96 bytes)', std('ES384', 'ec384-a'), ok(who({ kid: 'ec384-a' })));
add('valid_es512', 'ES512 (raw r||s, 132 bytes)', std('ES512', 'ec521-a'), ok(who({ kid: 'ec521-a' })));
add('valid_es512_without_kid', 'no kid: the one P-521 key in the set is used', std('ES512', null, 'ec521-a'), ok(who({ kid: null })));
add('valid_es384_without_kid', 'no kid: the one P-384 key in the set is used', std('ES384', null, 'ec384-a'), ok(who({ kid: null })));

// Curve confusion: a token signed on one curve, its header naming another curve's alg and/or kid.
const curves = [
  ['ES256', 'ec-a'],
  ['ES384', 'ec384-a'],
  ['ES512', 'ec521-a'],
];
for (const [signAlg, signKid] of curves) {
  for (const [claimAlg, claimKid] of curves) {
    if (signAlg === claimAlg) continue;
    const signedAs = (alg, kid) => {
      const header = { alg, kid, typ: 'JWT' };
      const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims()))}`;
      return `${input}.${b64u(SIGNERS[signAlg](priv(signKid), Buffer.from(input)))}`;
    };
    const tag = `${signAlg.toLowerCase()}_as_${claimAlg.toLowerCase()}`;
    // Header alg of the other curve, kid of the signing key: the key refuses that alg.
    add(`curve_confusion_${tag}_own_kid`, `${signAlg} signature by ${signKid}, header alg ${claimAlg}, kid ${signKid}`, signedAs(claimAlg, signKid), bad('malformed_signature'));
    // Header alg of the other curve and that curve's kid: the signature has the wrong length.
    add(`curve_confusion_${tag}_other_kid`, `${signAlg} signature by ${signKid}, header alg ${claimAlg}, kid ${claimKid}`, signedAs(claimAlg, claimKid), bad('malformed_signature'));
    // Header alg of the signing curve, kid of the other curve's key: the key refuses the alg.
    add(`curve_confusion_${tag}_kid_only`, `${signAlg} signature by ${signKid}, header alg ${signAlg}, kid ${claimKid}`, signedAs(signAlg, claimKid), bad('alg_key_mismatch'));
  }
}
add('curve_mislabelled_p384_as_p521', 'P-384 key published as P-521 (48-byte coordinates)', std('ES384', 'ec384-as-p521'), bad('unknown_kid'));
add('curve_mislabelled_p384_as_p521_es512', 'the same key claimed for ES512', std('ES512', 'ec384-as-p521', 'ec521-a'), bad('unknown_kid'));
add('curve_mislabelled_p521_as_p384', 'P-521 key published as P-384 (66-byte coordinates)', std('ES512', 'ec521-as-p384'), bad('unknown_kid'));
add('curve_key_alg_contradiction', 'P-384 key whose JWK says ES256: skipped', std('ES384', 'ec384-alg-es256'), bad('unknown_kid'));
add('wrong_key_for_kid_es384', 'ES384 signed by another P-384 key under kid ec384-a', std('ES384', 'ec384-a', 'ec384-as-p521'), bad('bad_signature'));
add('wrong_key_for_kid_es512', 'ES512 signed by another P-521 key under kid ec521-a', std('ES512', 'ec521-a', 'ec521-as-p384'), bad('bad_signature'));

// RS <-> PS confusion and hash confusion at 384 / 512.
const relabel = (token, header) => `${b64u(JSON.stringify(header))}.${token.split('.').slice(1).join('.')}`;
for (const [from, to] of [['RS384', 'PS384'], ['PS384', 'RS384'], ['RS512', 'PS512'], ['PS512', 'RS512'], ['RS384', 'RS512'], ['PS512', 'PS384'], ['RS256', 'RS384'], ['PS256', 'PS512']]) {
  add(`${from.toLowerCase()}_as_${to.toLowerCase()}`, `a ${from} signature labelled ${to}`, relabel(std(from, 'rsa-a'), { alg: to, kid: 'rsa-a' }), bad('bad_signature'));
}
add('ps384_key_for_rs384', 'RS384 under the kid of a key whose JWK says PS384', std('RS384', 'rsa-ps384'), bad('alg_key_mismatch'));
add('ps384_key_for_ps512', 'PS512 under the kid of a key whose JWK says PS384', std('PS512', 'rsa-ps384'), bad('alg_key_mismatch'));
add('ps384_key_for_ps256', 'PS256 under the kid of a key whose JWK says PS384', std('PS256', 'rsa-ps384'), bad('alg_key_mismatch'));
add('rsa_key_for_es384', 'ES384 under the kid of an RSA key', std('ES384', 'rsa-a', 'ec384-a'), bad('alg_key_mismatch'));
add('ec384_key_for_rs384', 'RS384 under the kid of a P-384 key', std('RS384', 'ec384-a', 'rsa-a'), bad('alg_key_mismatch'));
add('ps384_other_issuer', 'PS384 against an issuer that only allows RS256', std('PS384', 'other-rsa', 'other-rsa', { iss: OTHER }), bad('alg_not_allowed'));
add('rs512_wrong_key', 'RS512 signed by rsa-b under kid rsa-a', std('RS512', 'rsa-a', 'rsa-b'), bad('bad_signature'));
add('ps384_short_signature', 'PS384 signature one byte short of the 3072-bit modulus', `${std('PS384', 'rsa-ps384').split('.').slice(0, 2).join('.')}.${b64u(Buffer.alloc(383, 1))}`, bad('malformed_signature'));
add('rs512_signature_of_other_modulus', 'RS512 with a 384-byte signature for a 2048-bit key', `${std('RS512', 'rsa-a').split('.').slice(0, 2).join('.')}.${b64u(Buffer.alloc(384, 1))}`, bad('malformed_signature'));

// HS256 keyed with the RSA (and P-384) public key of the new algorithms' keys.
const pem = (kid) => createPublicKey({ key: pubJwk(kid), format: 'jwk' }).export({ type: 'spki', format: 'pem' });
add('key_confusion_ps384_pem', 'HS256 keyed with the PS384 key PEM, under its kid', confusionKid('rsa-ps384', pem('rsa-ps384')), bad('bad_signature'));
add('key_confusion_ps384_n', 'HS256 keyed with the PS384 key modulus, under its kid', confusionKid('rsa-ps384', Buffer.from(pubJwk('rsa-ps384').n, 'base64url')), bad('bad_signature'));
add('key_confusion_ec384_pem', 'HS256 keyed with the P-384 key PEM, under its kid', confusionKid('ec384-a', pem('ec384-a')), bad('bad_signature'));
add('key_confusion_ec521_x', 'HS256 keyed with the P-521 key x coordinate, under its kid', confusionKid('ec521-a', Buffer.from(pubJwk('ec521-a').x, 'base64url')), bad('bad_signature'));

// Wrong signature lengths, psychic signatures and DER for ES384 / ES512.
const orders = {
  ES384: Buffer.from('ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973', 'hex'),
  ES512: Buffer.from('01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409', 'hex'),
};
for (const [alg, kid] of [['ES384', 'ec384-a'], ['ES512', 'ec521-a']]) {
  const a = alg.toLowerCase();
  const n = orders[alg];
  const len = n.length;
  const withSig = (sig) => jws({ header: { alg, kid }, payload: claims(), signature: sig });
  const real = Buffer.from(std(alg, kid).split('.')[2], 'base64url');
  const [r, sPart] = [real.subarray(0, len), real.subarray(len)];
  const one = Buffer.alloc(len);
  one[len - 1] = 1;
  add(`psychic_${a}_zero`, `${alg} with r = s = 0`, withSig(Buffer.alloc(2 * len)), bad('malformed_signature'));
  add(`psychic_${a}_r_zero`, `${alg} with r = 0 and a real s`, withSig(Buffer.concat([Buffer.alloc(len), sPart])), bad('malformed_signature'));
  add(`psychic_${a}_s_zero`, `${alg} with a real r and s = 0`, withSig(Buffer.concat([r, Buffer.alloc(len)])), bad('malformed_signature'));
  add(`psychic_${a}_order`, `${alg} with r = s = n`, withSig(Buffer.concat([n, n])), bad('malformed_signature'));
  add(`psychic_${a}_r_order`, `${alg} with r = n and a real s`, withSig(Buffer.concat([n, sPart])), bad('malformed_signature'));
  add(`psychic_${a}_s_order`, `${alg} with a real r and s = n`, withSig(Buffer.concat([r, n])), bad('malformed_signature'));
  add(`${a}_scalars_one`, `${alg} with r = s = 1: well-formed, and wrong`, withSig(Buffer.concat([one, one])), bad('bad_signature'));
  const der = sign(alg === 'ES384' ? 'sha384' : 'sha512', Buffer.from('x'), { key: priv(kid), dsaEncoding: 'der' });
  if (der.length === 2 * len) throw new Error(`${alg}: a DER signature of the raw length; run again`);
  add(`${a}_der_signature`, `${alg} with a DER signature instead of raw r||s`, withSig(der), bad('malformed_signature'));
  add(`${a}_signature_short`, `${alg} signature one byte short`, withSig(real.subarray(1)), bad('malformed_signature'));
  add(`${a}_signature_long`, `${alg} signature one byte long`, withSig(Buffer.concat([real, Buffer.alloc(1)])), bad('malformed_signature'));
}
add('es512_trimmed_scalars', 'ES512 with 65-byte r and s (leading zero byte dropped)', jws({ header: { alg: 'ES512', kid: 'ec521-a' }, payload: claims(), signature: Buffer.alloc(130, 1) }), bad('malformed_signature'));

writeFileSync(new URL('tokens.json', OUT), JSON.stringify({ now: NOW, tokens }, null, 2) + '\n');

// ---------------------------------------------------------------------------------------------
// RFC examples: checked here with node:crypto, and at the verifier level by the Rust tests.

const RFC_PAYLOAD = 'eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ';
const rfc = [
  {
    name: 'rfc7515_a1_hs256',
    alg: 'HS256',
    key: { kty: 'oct', k: 'AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow' },
    token: `eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.${RFC_PAYLOAD}.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk`,
  },
  {
    name: 'rfc7515_a2_rs256',
    alg: 'RS256',
    key: {
      kty: 'RSA',
      n: 'ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ',
      e: 'AQAB',
    },
    token: `eyJhbGciOiJSUzI1NiJ9.${RFC_PAYLOAD}.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw`,
  },
  {
    name: 'rfc7515_a3_es256',
    alg: 'ES256',
    key: { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' },
    token: `eyJhbGciOiJFUzI1NiJ9.${RFC_PAYLOAD}.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q`,
  },
  {
    name: 'rfc8037_a4_eddsa',
    alg: 'EdDSA',
    key: { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' },
    token: 'eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg',
  },
  {
    // RFC 7515 A.4: ES512 over the payload "Payload" (P-521, raw r||s of 2 x 66 bytes).
    name: 'rfc7515_a4_es512',
    alg: 'ES512',
    key: {
      kty: 'EC',
      crv: 'P-521',
      x: 'AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk',
      y: 'ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2',
    },
    token: 'eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA.AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn',
  },
];
for (const v of rfc) {
  const [h, p, s] = v.token.split('.');
  const input = Buffer.from(`${h}.${p}`);
  const sig = Buffer.from(s, 'base64url');
  let valid;
  if (v.alg === 'HS256') {
    valid = createHmac('sha256', Buffer.from(v.key.k, 'base64url')).update(input).digest().equals(sig);
  } else {
    const key = createPublicKey({ key: v.key, format: 'jwk' });
    const algo = v.alg === 'EdDSA' ? null : `sha${v.alg.slice(2)}`;
    const opts = v.alg.startsWith('ES') ? { key, dsaEncoding: 'ieee-p1363' } : key;
    valid = verify(algo, input, opts, sig);
  }
  if (!valid) throw new Error(`${v.name} does not verify with node:crypto`);
  v.now = 1_300_819_000; // before the examples' exp (1300819380)
  v.expect_valid = true;
}
writeFileSync(new URL('rfc.json', OUT), JSON.stringify({ vectors: rfc }, null, 2) + '\n');

console.log(`wrote ${tokens.length} tokens, ${rfc.length} RFC vectors, ${Object.keys(documents).length} JWKS documents`);
