// Reference Node.js OpenID provider for benchmark comparison: panva's
// oidc-provider with its default in-memory adapter, serving only the
// client-credentials grant. Access tokens are JWTs (typ at+jwt) signed ES256
// with an EC P-256 key generated at start-up.
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';

process.env.NODE_ENV ??= 'production';

const PORT = Number.parseInt(process.env.PORT || '8766', 10);
const ISSUER = process.env.ISSUER || 'http://127.0.0.1:8766';
const RESOURCE = 'urn:bench:api';

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingJwk = {
  ...privateKey.export({ format: 'jwk' }),
  kid: 'bench-es256',
  alg: 'ES256',
  use: 'sig',
};

const provider = new Provider(ISSUER, {
  // No adapter given: oidc-provider uses its built-in in-memory adapter.
  jwks: { keys: [signingJwk] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  clients: [
    {
      client_id: 'bench',
      client_secret: 'bench-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
      scope: 'api:read',
    },
  ],
  scopes: ['api:read'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator) => {
        if (resourceIndicator !== RESOURCE) {
          throw new errors.InvalidTarget();
        }
        return {
          scope: 'api:read',
          audience: RESOURCE,
          accessTokenTTL: 3600,
          accessTokenFormat: process.env.ACCESS_TOKEN_FORMAT || 'jwt', // or 'opaque' (stored)
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
  ttl: {
    ClientCredentials: 3600,
  },
});

// Plain HTTP on loopback: oidc-provider does not reject an http:// issuer, and
// nothing on this path depends on TLS (no cookies are set by /token).
provider.listen(PORT, '127.0.0.1', () => {
  console.log(`oidc-provider reference listening on http://127.0.0.1:${PORT} (issuer ${ISSUER})`);
});
