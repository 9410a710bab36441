// The admin API, /api/v1 on the admin listener (docs/api.md): the routes of routes.ts behind
// bearer-token authentication (tokens from `yubin api-token create`, src/admin/tokens.ts), JSON
// in and out, errors as RFC 9457 problem details, and the OpenAPI document at /openapi.json.
// Every call is logged with the token's name.
import type { Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { RouteRegistrar } from '../server.js';
import { authenticateToken } from '../../admin/tokens.js';
import { AdminError, ValidationError } from '../../admin/errors.js';
import { API_ROUTES, bodyFields, pathParams, type ApiDeps } from './routes.js';
import { openApiDocument } from './openapi.js';
import { problem, problemOf, problemResponse } from './problem.js';

export type { ApiDeps } from './routes.js';

/** Request bodies larger than this are refused (413): the largest real one is a password or an alias's targets. */
export const MAX_BODY_BYTES = 64 * 1024;

/** RFC 6750 §3: the challenge of a 401; with error="invalid_token" when a token was presented but is not valid. */
function challenge(invalid: boolean): Record<string, string> {
  return { 'www-authenticate': `Bearer realm="yubin admin"${invalid ? ', error="invalid_token"' : ''}` };
}

/** The JSON body of a request as an object ({} when there is none); throws ValidationError otherwise. */
async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (!text.trim()) return {};
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new AdminError(415, 'the body must be JSON (Content-Type: application/json)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ValidationError('the body is not valid JSON', null);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ValidationError('the body must be a JSON object', null);
  return parsed as Record<string, unknown>;
}

export function apiRoutes(deps: ApiDeps): RouteRegistrar {
  const log = deps.logger.child({ component: 'api' });
  return (app: Hono) => {
    const document = openApiDocument();
    // The description of the API is public (it holds no data); everything else needs a token.
    app.get('/openapi.json', (c) => c.json(document));

    app.use('*', async (c, next) => {
      const header = c.req.header('authorization') ?? '';
      // RFC 6750 §2.1: Authorization: Bearer <token>; the scheme is case-insensitive (RFC 9110 §11.1).
      const m = /^bearer +(\S+)\s*$/i.exec(header);
      const token = m ? await authenticateToken(deps.store, m[1]!) : null;
      if (!token) {
        log.warn({ method: c.req.method, path: c.req.path, presented: !!m }, 'api: refused (no valid token)');
        return problemResponse(c, problem(401, m ? 'the bearer token is unknown or revoked' : 'an API token is required: Authorization: Bearer <token> (make one with "yubin api-token create NAME")'), challenge(!!m));
      }
      c.set('token' as never, token.name as never);
      await next();
      log.info({ token: token.name, method: c.req.method, path: c.req.path, status: c.res.status }, 'api call');
    });
    app.use(
      '*',
      bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => problemResponse(c, problem(413, `the body is larger than ${MAX_BODY_BYTES} bytes`)) }),
    );

    for (const route of API_ROUTES) {
      const fromPath = pathParams(route.path);
      const fromBody = new Set(bodyFields(route));
      const honoPath = route.path.replace(/\{(\w+)\}/g, ':$1');
      app.on(route.method.toUpperCase(), honoPath, async (c) => {
        try {
          const input: Record<string, unknown> = {};
          if (route.method !== 'get' && route.method !== 'delete') {
            const body = await jsonBody(c);
            for (const [k, v] of Object.entries(body)) {
              if (!fromBody.has(k)) throw new ValidationError(`${k} is not a field of this request`, k);
              input[k] = v;
            }
          }
          for (const q of route.query ?? []) {
            const v = c.req.query(q);
            if (v !== undefined) input[q] = v;
          }
          for (const p of fromPath) input[p] = c.req.param(p);
          const result = await route.run(deps, input);
          return c.json(result ?? {}, route.status ?? 200);
        } catch (err) {
          const p = problemOf(err);
          if (p) return problemResponse(c, p);
          log.error({ err, method: c.req.method, path: c.req.path }, 'api: operation failed');
          return problemResponse(c, problem(500, 'internal error (see the server log)'));
        }
      });
    }
    app.all('*', (c) => problemResponse(c, problem(404, `no such API route: ${c.req.method} ${c.req.path}`)));
  };
}
