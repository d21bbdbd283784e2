#!/usr/bin/env node
// Regenerates the issuer-profile vectors in tests/vectors/issuers/ with only `node:crypto`.
//
//   node scripts/gen-issuer-vectors.mjs
//
// One file per provider (Logto, Auth0, Okta, Microsoft Entra ID v2, AWS Cognito, Keycloak):
// tokens in the header and claim shape the provider documents for its access tokens (and ID
// tokens, as near-misses), the provider's JWKS (and discovery document where the config uses
// discovery), and the `issuers[]` config snippet that docs/issuers.md shows; tests/issuers.rs
// checks that the two snippets are identical and that the snippet accepts and refuses exactly
// as each token's `expect` says. Private keys live in keys.json (test-only keys) and are reused,
// so regenerating changes only randomized ECDSA signatures. Delete keys.json to mint new keys.
// Values such as tenant ids and client ids are made up.

import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const OUT = new URL('../tests/vectors/issuers/', import.meta.url);
mkdirSync(OUT, { recursive: true });

const NOW = 1_900_000_000; // the fixed `now` the native tests pass in
const HOUR = 3600;

// ---------------------------------------------------------------------------------------------
// Keys

const keysPath = new URL('keys.json', OUT);
const KEY_SPECS = {
  'logto-ec': ['ec', { namedCurve: 'P-384' }],
  'logto-rsa': ['rsa', { modulusLength: 2048 }],
  'auth0-rsa': ['rsa', { modulusLength: 2048 }],
  'okta-rsa': ['rsa', { modulusLength: 2048 }],
  'entra-rsa': ['rsa', { modulusLength: 2048 }],
  'cognito-rsa': ['rsa', { modulusLength: 2048 }],
  'keycloak-rsa': ['rsa', { modulusLength: 2048 }],
  'keycloak-ec': ['ec', { namedCurve: 'P-256' }],
};
const stored = existsSync(keysPath) ? JSON.parse(readFileSync(keysPath, 'utf8')) : { keys: {} };
for (const [name, [type, opts]] of Object.entries(KEY_SPECS)) {
  if (!stored.keys[name]) {
    const { privateKey } = generateKeyPairSync(type, opts);
    stored.keys[name] = privateKey.export({ format: 'jwk' });
  }
}
writeFileSync(keysPath, JSON.stringify(stored, null, 2) + '\n');

const pubJwk = (name) => {
  const { d, p, q, dp, dq, qi, ...pub } = stored.keys[name];
  return pub;
};
const jwk = (name, kid, alg) => ({ ...pubJwk(name), kid, alg, use: 'sig' });

// ---------------------------------------------------------------------------------------------
// Signing

const b64u = (b) => Buffer.from(b).toString('base64url');
const SIGNERS = {
  RS256: (key, data) => sign('sha256', data, key),
  ES256: (key, data) => sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }),
  ES384: (key, data) => sign('sha384', data, { key, dsaEncoding: 'ieee-p1363' }),
};

/** A compact JWS of `claims` with exactly `header`, signed with the named private key. */
function mintWith(keyName, header, claims, keys = stored.keys) {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
  const key = createPrivateKey({ key: keys[keyName], format: 'jwk' });
  return `${input}.${b64u(SIGNERS[header.alg](key, Buffer.from(input)))}`;
}

// A token entry: the header and claims (so the runtime test can re-mint them with fresh times),
// the key that signs them, the token itself, and what the snippet's config must make of it.
const token = (name, key, header, claims, expect) => ({
  name,
  key,
  header,
  claims,
  token: mintWith(key, header, claims),
  expect,
});
const valid = (sub, scopes, client_id) => ({ outcome: 'valid', sub, scopes, client_id });
const invalid = (reason) => ({ outcome: 'invalid', reason });
const times = { iat: NOW - 60, exp: NOW - 60 + HOUR };

const providers = {};

// ---------------------------------------------------------------------------------------------
// Logto: RFC 9068 access tokens (`typ: at+jwt`), ES384 with the default key, RS256 after a
// rotation to an RSA key; `aud` is the API resource indicator; issuer ends in `/oidc`.
{
  const iss = 'https://tenant-id.logto.app/oidc';
  const api = 'https://api.example.com';
  const jwksUri = `${iss}/jwks`;
  const at = (alg, kid) => ({ alg, typ: 'at+jwt', kid });
  const m2m = 'm2m-app-id-1234';
  const spa = 'spa-app-id-5678';
  const access = (extra) => ({ jti: 'jti-' + extra.sub, ...times, iss, aud: api, ...extra });
  providers.logto = {
    issuer: iss,
    config: {
      issuer: iss,
      discovery: true,
      audiences: [api],
      algorithms: ['ES384', 'RS256'],
      token_type: 'at+jwt',
    },
    documents: {
      [`${iss}/.well-known/openid-configuration`]: { issuer: iss, jwks_uri: jwksUri },
      [jwksUri]: { keys: [jwk('logto-ec', 'logto-ec-1', 'ES384'), jwk('logto-rsa', 'logto-rsa-2', 'RS256')] },
    },
    tokens: [
      token('logto_es384_m2m', 'logto-ec', at('ES384', 'logto-ec-1'),
        access({ sub: m2m, client_id: m2m, scope: 'read:things' }),
        valid(m2m, ['read:things'], m2m)),
      token('logto_es384_user', 'logto-ec', at('ES384', 'logto-ec-1'),
        access({ sub: 'user-u1', client_id: spa, scope: 'read:things write:things' }),
        valid('user-u1', ['read:things', 'write:things'], spa)),
      token('logto_rs256_m2m', 'logto-rsa', at('RS256', 'logto-rsa-2'),
        access({ sub: m2m, client_id: m2m, scope: 'read:things' }),
        valid(m2m, ['read:things'], m2m)),
      token('logto_rs256_user', 'logto-rsa', at('RS256', 'logto-rsa-2'),
        access({ sub: 'user-u1', client_id: spa, scope: 'read:things write:things' }),
        valid('user-u1', ['read:things', 'write:things'], spa)),
      // An ID token: `typ: JWT`. Even with `aud` set to the API it is no bearer token.
      token('logto_rs256_id_token', 'logto-rsa', { alg: 'RS256', typ: 'JWT', kid: 'logto-rsa-2' },
        { ...times, iss, aud: api, sub: 'user-u1', at_hash: 'x', auth_time: NOW - 120, name: 'U' },
        invalid('token_type_not_access_token')),
      token('logto_rs256_no_typ', 'logto-rsa', { alg: 'RS256', kid: 'logto-rsa-2' },
        access({ sub: 'user-u1', client_id: spa, scope: 'read:things' }),
        invalid('token_type_not_access_token')),
      token('logto_rs256_scope_wrong_type', 'logto-rsa', at('RS256', 'logto-rsa-2'),
        access({ sub: m2m, client_id: m2m, scope: ['read:things'] }),
        invalid('invalid_scope')),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Auth0: RS256, `typ: JWT`; `aud` an array (the API and the userinfo endpoint); `scope` string
// and, with RBAC, a `permissions` array; `azp`; M2M tokens carry `gty: client-credentials` and
// `sub` `<client id>@clients`.
{
  const iss = 'https://your-tenant.us.auth0.com/';
  const api = 'https://api.example.com';
  const jwksUri = `${iss}.well-known/jwks.json`;
  const h = { alg: 'RS256', typ: 'JWT', kid: 'auth0-key-1' };
  const spa = 'SpaClientId0123456789abcdefABCD';
  const m2m = 'M2mClientId0123456789abcdefABCD';
  providers.auth0 = {
    issuer: iss,
    config: {
      issuer: iss,
      jwks_uri: jwksUri,
      audiences: [api],
      algorithms: ['RS256'],
      scope_claims: ['scope', 'permissions'],
    },
    documents: { [jwksUri]: { keys: [jwk('auth0-rsa', 'auth0-key-1', 'RS256')] } },
    tokens: [
      token('auth0_user_rbac', 'auth0-rsa', h,
        { iss, sub: 'auth0|64f1c0ffee', aud: [api, `${iss}userinfo`], ...times, azp: spa,
          scope: 'openid profile read:things', permissions: ['read:things', 'write:things'] },
        valid('auth0|64f1c0ffee', ['openid', 'profile', 'read:things', 'write:things'], spa)),
      token('auth0_m2m', 'auth0-rsa', h,
        { iss, sub: `${m2m}@clients`, aud: api, ...times, scope: 'read:things', gty: 'client-credentials', azp: m2m,
          permissions: ['read:things'] },
        valid(`${m2m}@clients`, ['read:things'], m2m)),
      token('auth0_id_token', 'auth0-rsa', h,
        { iss, sub: 'auth0|64f1c0ffee', aud: spa, ...times, nonce: 'n', sid: 's', name: 'U' },
        invalid('audience_mismatch')),
      token('auth0_permissions_wrong_type', 'auth0-rsa', h,
        { iss, sub: 'auth0|64f1c0ffee', aud: api, ...times, azp: spa, scope: 'read:things',
          permissions: { 'read:things': true } },
        invalid('invalid_scope')),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Okta (custom authorization server): RS256, header without `typ`; `scp` an array, `cid` the
// client id, `uid` the user, `ver: 1`; client-credentials tokens have `sub` = the client id.
{
  const iss = 'https://your-org.okta.com/oauth2/default';
  const jwksUri = `${iss}/v1/keys`;
  const h = { kid: 'okta-key-1', alg: 'RS256' };
  const cid = '0oa1example2ABCDEF5d7';
  providers.okta = {
    issuer: iss,
    config: {
      issuer: iss,
      jwks_uri: jwksUri,
      audiences: ['api://default'],
      algorithms: ['RS256'],
      scope_claims: ['scp'],
      client_id_claims: ['cid'],
    },
    documents: { [jwksUri]: { keys: [jwk('okta-rsa', 'okta-key-1', 'RS256')] } },
    tokens: [
      token('okta_user', 'okta-rsa', h,
        { ver: 1, jti: 'AT.user1', iss, aud: 'api://default', ...times, cid, uid: '00u1example',
          scp: ['openid', 'email', 'things:read'], auth_time: NOW - 300, sub: 'user@example.com' },
        valid('user@example.com', ['openid', 'email', 'things:read'], cid)),
      token('okta_m2m', 'okta-rsa', h,
        { ver: 1, jti: 'AT.m2m1', iss, aud: 'api://default', ...times, cid, scp: ['things:read'], sub: cid },
        valid(cid, ['things:read'], cid)),
      token('okta_id_token', 'okta-rsa', h,
        { ver: 1, jti: 'ID.1', iss, aud: cid, ...times, sub: '00u1example', amr: ['pwd'], idp: '00o1', nonce: 'n' },
        invalid('audience_mismatch')),
      token('okta_scp_wrong_type', 'okta-rsa', h,
        { ver: 1, jti: 'AT.bad', iss, aud: 'api://default', ...times, cid, scp: [1, 2], sub: cid },
        invalid('invalid_scope')),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Microsoft Entra ID, v2.0 access tokens: RS256, `typ: JWT`; `aud` the API's application id;
// delegated permissions in `scp` (a space-separated string), application permissions (client
// credentials) in `roles` (an array); `azp` (v2; `appid` in v1 tokens), `tid`, `oid`, `ver`.
{
  const tid = '72f988bf-0000-4000-8000-2d7cd011db47';
  const iss = `https://login.microsoftonline.com/${tid}/v2.0`;
  const jwksUri = `https://login.microsoftonline.com/${tid}/discovery/v2.0/keys`;
  const apiAppId = '6e74172b-be56-4843-9ff4-e66a39bb12e3';
  const client = 'c44b4083-3bb0-49c1-b47d-974e53cbdf3c';
  const h = { typ: 'JWT', alg: 'RS256', kid: 'entra-key-1' };
  const base = { aud: apiAppId, iss, ...times, nbf: NOW - 60, tid, ver: '2.0', uti: 'uti1', rh: 'rh1' };
  providers.entra = {
    issuer: iss,
    config: {
      issuer: iss,
      jwks_uri: jwksUri,
      audiences: [apiAppId, `api://${apiAppId}`],
      algorithms: ['RS256'],
      scope_claims: ['scp', 'roles'],
      client_id_claims: ['azp', 'appid'],
    },
    // Entra's JWKS entries carry no `alg` (the key type decides).
    documents: { [jwksUri]: { keys: [{ ...pubJwk('entra-rsa'), kid: 'entra-key-1', use: 'sig' }] } },
    tokens: [
      token('entra_delegated', 'entra-rsa', h,
        { ...base, azp: client, azpacr: '0', name: 'U', oid: 'oid-user', preferred_username: 'u@contoso.example',
          scp: 'Things.Read Things.Write', sub: 'sub-pairwise-user' },
        valid('sub-pairwise-user', ['Things.Read', 'Things.Write'], client)),
      token('entra_app_roles', 'entra-rsa', h,
        { ...base, azp: client, azpacr: '1', idtyp: 'app', oid: 'oid-sp', roles: ['Things.ReadWrite.All'], sub: 'oid-sp' },
        valid('oid-sp', ['Things.ReadWrite.All'], client)),
      token('entra_v1_style_appid', 'entra-rsa', h,
        { ...base, appid: client, oid: 'oid-sp', roles: ['Things.Read.All'], sub: 'oid-sp' },
        valid('oid-sp', ['Things.Read.All'], client)),
      token('entra_id_token', 'entra-rsa', h,
        { ...base, aud: client, oid: 'oid-user', sub: 'sub-pairwise-user', nonce: 'n', name: 'U' },
        invalid('audience_mismatch')),
      token('entra_roles_wrong_type', 'entra-rsa', h,
        { ...base, azp: client, oid: 'oid-sp', roles: 7, sub: 'oid-sp' },
        invalid('invalid_scope')),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// AWS Cognito user pools, access tokens: RS256, header `kid` and `alg` only; no `aud`, the app
// client in `client_id`, `token_use: access`, `scope`; ID tokens carry `aud` (the app client)
// and `token_use: id`.
{
  const pool = 'us-east-1_Example1';
  const iss = `https://cognito-idp.us-east-1.amazonaws.com/${pool}`;
  const jwksUri = `${iss}/.well-known/jwks.json`;
  const app = '1example23456789abcdefghij';
  const h = { kid: 'cognito-key-1', alg: 'RS256' };
  const base = { iss, version: 2, ...times, jti: 'jti-1', auth_time: NOW - 300 };
  providers.cognito = {
    issuer: iss,
    config: {
      issuer: iss,
      jwks_uri: jwksUri,
      algorithms: ['RS256'],
      accept_without_audience: { client_ids: [app] },
      required_claims: { token_use: 'access' },
    },
    documents: { [jwksUri]: { keys: [jwk('cognito-rsa', 'cognito-key-1', 'RS256')] } },
    tokens: [
      token('cognito_user_access', 'cognito-rsa', h,
        { sub: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', 'cognito:groups': ['admins'], ...base, client_id: app,
          origin_jti: 'o1', event_id: 'e1', token_use: 'access', scope: 'aws.cognito.signin.user.admin things/read',
          username: 'alice' },
        valid('aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', ['aws.cognito.signin.user.admin', 'things/read'], app)),
      token('cognito_m2m_access', 'cognito-rsa', h,
        { sub: app, ...base, client_id: app, token_use: 'access', scope: 'things/read things/write' },
        valid(app, ['things/read', 'things/write'], app)),
      token('cognito_id_token', 'cognito-rsa', h,
        { sub: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', aud: app, ...base, token_use: 'id', 'cognito:username': 'alice',
          email: 'alice@example.com', email_verified: true },
        invalid('audience_mismatch')),
      token('cognito_other_client', 'cognito-rsa', h,
        { sub: 'other', ...base, client_id: 'someotherappclient000000000', token_use: 'access', scope: 'things/read' },
        invalid('client_id_not_allowed')),
      token('cognito_not_access', 'cognito-rsa', h,
        { sub: app, ...base, client_id: app, token_use: 'id', scope: 'things/read' },
        invalid('required_claim_mismatch')),
      token('cognito_scope_wrong_type', 'cognito-rsa', h,
        { sub: app, ...base, client_id: app, token_use: 'access', scope: 42 },
        invalid('invalid_scope')),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Keycloak: RS256 by default (ES256 when the realm has such a key), `typ: JWT` in the header and
// `typ: Bearer` (access) or `ID` in the payload; `azp` the client; realm roles in
// `realm_access.roles`, client roles in `resource_access.<client>.roles`; `scope` string. The
// API's client id appears in `aud` once an audience mapper adds it (the default is `account`).
{
  const iss = 'https://keycloak.example.com/realms/myrealm';
  const jwksUri = `${iss}/protocol/openid-connect/certs`;
  const hr = { alg: 'RS256', typ: 'JWT', kid: 'kc-rsa-1' };
  const he = { alg: 'ES256', typ: 'JWT', kid: 'kc-ec-1' };
  const user = 'f1e2d3c4-b5a6-4978-8899-aabbccddeeff';
  const base = { ...times, jti: 'onrtac:1', iss, sub: user, typ: 'Bearer', azp: 'web-app', sid: 's1', acr: '1',
    'allowed-origins': ['https://app.example.com'], email_verified: true, preferred_username: 'alice' };
  providers.keycloak = {
    issuer: iss,
    config: {
      issuer: iss,
      jwks_uri: jwksUri,
      audiences: ['my-api'],
      algorithms: ['RS256', 'ES256', 'PS256'],
      scope_claims: ['scope', 'realm_access.roles', 'resource_access.my-api.roles'],
      required_claims: { typ: 'Bearer' },
    },
    documents: {
      [jwksUri]: { keys: [jwk('keycloak-rsa', 'kc-rsa-1', 'RS256'), jwk('keycloak-ec', 'kc-ec-1', 'ES256')] },
    },
    tokens: [
      token('keycloak_user', 'keycloak-rsa', hr,
        { ...base, aud: ['my-api', 'account'],
          realm_access: { roles: ['default-roles-myrealm', 'offline_access', 'uma_authorization'] },
          resource_access: { 'my-api': { roles: ['things-reader'] }, account: { roles: ['manage-account'] } },
          scope: 'openid profile email' },
        valid(user, ['openid', 'profile', 'email', 'default-roles-myrealm', 'offline_access', 'uma_authorization', 'things-reader'], 'web-app')),
      token('keycloak_es256_service_account', 'keycloak-ec', he,
        { ...base, sub: 'svc-uuid', azp: 'batch-job', client_id: 'batch-job', aud: 'my-api',
          resource_access: { 'my-api': { roles: ['things-writer'] } }, scope: 'profile' },
        valid('svc-uuid', ['profile', 'things-writer'], 'batch-job')),
      token('keycloak_id_token', 'keycloak-rsa', hr,
        { ...base, typ: 'ID', aud: 'web-app', nonce: 'n', at_hash: 'x' },
        invalid('audience_mismatch')),
      token('keycloak_refresh_typ', 'keycloak-rsa', hr,
        { ...base, typ: 'Refresh', aud: 'my-api' },
        invalid('required_claim_mismatch')),
      token('keycloak_roles_wrong_type', 'keycloak-rsa', hr,
        { ...base, aud: 'my-api', realm_access: { roles: { admin: true } }, scope: 'openid' },
        invalid('invalid_scope')),
      token('keycloak_role_control_char', 'keycloak-rsa', hr,
        { ...base, aud: 'my-api', realm_access: { roles: ['ad\u0000min'] } },
        invalid('invalid_scope')),
    ],
  };
}

for (const [name, p] of Object.entries(providers)) {
  const doc = { provider: name, now: NOW, ...p };
  writeFileSync(new URL(`${name}.json`, OUT), JSON.stringify(doc, null, 2) + '\n');
}
console.log(`wrote ${Object.keys(providers).length} provider files to ${OUT.pathname}`);
