// Admin listener: /healthz (the process answers) and /readyz (every listener bound and the store
// open; 503 with the reasons otherwise), for load balancers and orchestrators.
import type { Hono } from 'hono';
import type { HttpDeps } from '../deps.js';

export function register(app: Hono, deps: HttpDeps): void {
  app.get('/healthz', (c) => c.text('ok\n'));
  app.get('/readyz', async (c) => {
    const r = await deps.readiness();
    return r.ready ? c.text('ready\n') : c.text(`not ready: ${r.problems.join('; ')}\n`, 503);
  });
}
