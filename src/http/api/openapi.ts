// The OpenAPI 3.1 document of the admin API, made from the route table (routes.ts) and the
// operations' zod schemas (z.toJSONSchema, the input side: what a request may carry), so the
// document describes exactly what the routes validate.
import { z } from 'zod';
import { API_ROUTES, bodyFields, pathParams, type ApiRoute } from './routes.js';

type Json = Record<string, unknown>;

/** JSON Schema (2020-12, which OpenAPI 3.1 uses) of a schema's input side, without "$schema". */
export function inputSchema(schema: z.ZodType): Json {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' }) as Json;
  return rest;
}

/** The request body's schema of a route: its input schema without the fields of the path and query. */
export function bodySchema(route: ApiRoute): z.ZodObject | null {
  const fields = bodyFields(route);
  if (!route.input || !fields.length) return null;
  return route.input.pick(Object.fromEntries(fields.map((f) => [f, true])) as Record<string, true>);
}

const problemRef = { $ref: '#/components/schemas/Problem' };
const problemResponse = (description: string) => ({ description, content: { 'application/problem+json': { schema: problemRef } } });

export function openApiDocument(): Json {
  const paths: Record<string, Json> = {};
  for (const route of API_ROUTES) {
    const shape = route.input?.shape ?? {};
    const parameters = [
      ...pathParams(route.path).map((name) => ({ name, in: 'path', required: true, schema: inputSchema(shape[name] as z.ZodType) })),
      ...(route.query ?? []).map((name) => ({ name, in: 'query', required: !(shape[name] as z.ZodType).safeParse(undefined).success, schema: inputSchema(shape[name] as z.ZodType) })),
    ];
    const body = bodySchema(route);
    const op: Json = {
      operationId: `${route.method}${route.path.replace(/\{(\w+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(.)?/g, (_m, ch: string | undefined) => (ch ? ch.toUpperCase() : ''))}`,
      tags: [route.tag],
      summary: route.summary,
      ...(parameters.length ? { parameters } : {}),
      ...(body ? { requestBody: { required: true, content: { 'application/json': { schema: inputSchema(body), ...(route.example ? { example: route.example } : {}) } } } } : {}),
      responses: {
        [String(route.status ?? 200)]: { description: 'the result', content: { 'application/json': { schema: {} } } },
        ...(route.input ? { '400': problemResponse('bad input; `field` names the field at fault') } : {}),
        '401': { ...problemResponse('no token, or an unknown or revoked one'), headers: { 'WWW-Authenticate': { schema: { type: 'string' } } } },
        ...(pathParams(route.path).length ? { '404': problemResponse('no such thing') } : {}),
        ...(route.method !== 'get' ? { '409': problemResponse('the change conflicts with what exists') } : {}),
      },
    };
    paths[route.path] = { ...(paths[route.path] ?? {}), [route.method]: op };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Yubin admin API',
      version: '1',
      description:
        'Administration of a Yubin mail server: domains, users, aliases, the outbound queue, DKIM keys, DNS records and TLS status. The same operations as the `yubin` CLI. Served on the admin listener (loopback only); every call needs a bearer token made with `yubin api-token create NAME`.',
    },
    servers: [{ url: '/api/v1' }],
    security: [{ bearer: [] }],
    tags: ['domains', 'users', 'aliases', 'queue', 'dkim', 'dns', 'tls'].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a token from `yubin api-token create NAME`' } },
      schemas: {
        // RFC 9457 §3.1 members, and the extension member `field` for validation errors.
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status', 'detail'],
          properties: {
            type: { type: 'string', format: 'uri-reference' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            field: { type: 'string', description: 'the input field at fault (400)' },
          },
        },
      },
    },
  };
}
