// RFC 8461 §3.3: the policy is fetched from https://mta-sts.<domain>/.well-known/mta-sts.txt,
// chosen by the Host header; only HTTPS (the http listener redirects), only local domains.
import type { Hono } from 'hono';
import type { HttpDeps } from '../deps.js';
import { mtaStsPolicy } from '../mta-sts.js';
import { domainFromHost } from './account.js';

export const MTA_STS_PATH = '/.well-known/mta-sts.txt';

export function register(app: Hono, deps: HttpDeps): void {
  app.get(MTA_STS_PATH, async (c) => {
    const domain = domainFromHost(c.req.header('host'), 'mta-sts');
    if (!domain || !(await deps.store.isLocalDomain(domain))) return c.text('no MTA-STS policy for this host\n', 404);
    // RFC 8461 §3.2: media type "text/plain"
    return c.body(mtaStsPolicy(deps.config), 200, { 'content-type': 'text/plain; charset=utf-8' });
  });
}
