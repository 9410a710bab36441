// RFC 8555 §8.3: GET http://<name>/.well-known/acme-challenge/<token> answers the key
// authorization as application/octet-stream; unknown tokens are 404.
import type { Hono } from 'hono';
import type { HttpDeps } from '../deps.js';

export const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

export function register(app: Hono, deps: HttpDeps): void {
  app.get(`${ACME_CHALLENGE_PREFIX}:token`, (c) => {
    const answer = deps.challenges.get(c.req.param('token'));
    if (answer === undefined) return c.text('unknown challenge token\n', 404);
    return c.body(answer, 200, { 'content-type': 'application/octet-stream' });
  });
}
