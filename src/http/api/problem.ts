// RFC 9457 problem details for the admin API: every error is application/problem+json with
// type, title, status and detail; a validation error also names the field at fault.
import type { Context } from 'hono';
import { AdminError } from '../../admin/errors.js';
import { StoreError, type StoreErrorCode } from '../../store/types.js';
import { QueueError } from '../../queue/index.js';
import { DkimKeyError } from '../../checks/dkim-keys.js';

export interface Problem {
  /** RFC 9457 §3.1.1: "about:blank" when the status code says it all. */
  type: string;
  /** RFC 9457 §4.2.1: with about:blank, the status code's phrase. */
  title: string;
  status: number;
  detail: string;
  /** Extension member (RFC 9457 §3.2): the input field a 400 is about ("targets.1" for nested ones). */
  field?: string;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
};

export function problem(status: number, detail: string, field?: string | null): Problem {
  return { type: 'about:blank', title: TITLES[status] ?? 'Error', status, detail, ...(field ? { field } : {}) };
}

export function problemResponse(c: Context, p: Problem, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(p), { status: p.status, headers: { 'content-type': 'application/problem+json', ...headers } });
}

const STORE_STATUS: Record<StoreErrorCode, number> = {
  exists: 409,
  'not-found': 404,
  'over-quota': 409,
  invalid: 400,
  'alias-loop': 409,
  'not-empty': 409,
  forbidden: 403,
  'schema-too-new': 500,
};

/** The problem an operation's error is, or null for an unexpected error (a bug: 500, logged). */
export function problemOf(err: unknown): Problem | null {
  if (err instanceof AdminError) return problem(err.status, err.message, err.field);
  if (err instanceof StoreError) return STORE_STATUS[err.code] === 500 ? null : problem(STORE_STATUS[err.code], err.message);
  // The queue says "no message <id> in the queue" for an id it does not hold; anything else is a state conflict.
  if (err instanceof QueueError) return problem(/^no message \S+ in the queue$/.test(err.message) ? 404 : 409, err.message);
  // Keys that exist already, or the last key of an algorithm (input was validated before).
  if (err instanceof DkimKeyError) return problem(409, err.message);
  return null;
}
