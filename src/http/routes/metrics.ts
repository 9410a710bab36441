// Admin listener: GET /metrics in the Prometheus text exposition format.
import type { Hono } from 'hono';
import type { HttpDeps } from '../deps.js';

export function register(app: Hono, deps: HttpDeps): void {
  app.get('/metrics', async (c) => {
    const { contentType, body } = await deps.metrics.render();
    return c.body(body, 200, { 'content-type': contentType });
  });
}
