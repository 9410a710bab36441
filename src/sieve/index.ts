// The Sieve interpreter (RFC 5228 and extensions): the module's public contract
// (/work/notes/sieve-api.md). ManageSieve, script storage and delivery import only this file.
import { validate } from './validator.js';
import { execute, type ScriptBody } from './interpreter.js';
import { CAPABILITIES } from './registry.js';
import { DEFAULT_SIEVE_LIMITS, type SieveAction, type SieveEnv, type SieveError, type SieveLimits, type SieveMessage, type SieveResult } from './types.js';

export type { SieveAction, SieveEnv, SieveError, SieveLimits, SieveMessage, SieveResult } from './types.js';
export { DEFAULT_SIEVE_LIMITS } from './types.js';

/** The capability list for ManageSieve's "SIEVE" capability: exactly what `require` accepts. */
export const SIEVE_EXTENSIONS: readonly string[] = Object.freeze([...CAPABILITIES].sort());

const BODY = Symbol('sieve script body');

export interface CompiledScript {
  readonly name: string;
  readonly requires: readonly string[];
}

interface Internal extends CompiledScript {
  readonly [BODY]: ScriptBody;
}

function limitsOf(l?: Partial<SieveLimits>): SieveLimits {
  return { ...DEFAULT_SIEVE_LIMITS, ...(l ?? {}) };
}

/** Parses and validates a script; errors are `line:column: message` items, in script order. */
export function compileSieve(text: string, opts: { name?: string; limits?: Partial<SieveLimits> } = {}): { ok: true; script: CompiledScript } | { ok: false; errors: SieveError[] } {
  const limits = limitsOf(opts.limits);
  const name = opts.name ?? 'script';
  if (Buffer.byteLength(text, 'utf8') > limits.maxScriptBytes) {
    return { ok: false, errors: [{ line: 1, column: 1, message: `script larger than ${limits.maxScriptBytes} bytes` }] };
  }
  const v = validate(text, limits.maxNesting);
  if (!v.ok) return v;
  const body: ScriptBody = { name, requires: new Set(v.value.requires), tree: v.value.tree };
  const script: Internal = { name, requires: Object.freeze([...v.value.requires]), [BODY]: body };
  return { ok: true, script };
}

/** Runs a compiled script; the implicit keep of RFC 5228 §2.10.2 is applied; never stalls past limits.cpuMs. */
export async function runSieve(script: CompiledScript, msg: SieveMessage, env: SieveEnv, opts: { limits?: Partial<SieveLimits> } = {}): Promise<SieveResult> {
  const body = (script as Internal)[BODY];
  if (!body) throw new TypeError('runSieve: not a script from compileSieve');
  const limits = limitsOf(opts.limits);
  return execute(body, msg, env, limits, (text, name) => {
    const c = compileSieve(text, { name, limits });
    if (!c.ok) return c.errors.map((e) => `${e.line}:${e.column}: ${e.message}`).join('; ');
    return (c.script as Internal)[BODY];
  });
}

/** A string in an action line: a JSON string literal (quotes, backslashes and control characters escaped). */
function q(s: string): string {
  return JSON.stringify(s);
}

function flagsPart(flags: string[] | null): string {
  return flags && flags.length ? ` :flags [${flags.map(q).join(', ')}]` : '';
}

/**
 * The stable one-line form of an action (docs/sieve.md):
 *   keep [:flags ["\\Seen", ...]]
 *   fileinto "Folder" [:flags [...]] [:copy] [:create]
 *   redirect "addr" [:copy]
 *   discard
 *   reject "text" | ereject "text"
 *   vacation to "addr" subject "..." [from "..."] seconds N [:mime] handle "..."
 */
export function formatAction(a: SieveAction): string {
  switch (a.type) {
    case 'keep':
      return `keep${flagsPart(a.flags)}`;
    case 'fileinto':
      return `fileinto ${q(a.mailbox)}${flagsPart(a.flags)}${a.copy ? ' :copy' : ''}${a.create ? ' :create' : ''}`;
    case 'redirect':
      return `redirect ${q(a.address)}${a.copy ? ' :copy' : ''}`;
    case 'discard':
      return 'discard';
    case 'reject':
      return `${a.ereject ? 'ereject' : 'reject'} ${q(a.reason)}`;
    case 'vacation':
      return `vacation to ${q(a.to)} subject ${q(a.subject)}${a.from !== null ? ` from ${q(a.from)}` : ''} seconds ${a.seconds}${a.mime ? ' :mime' : ''} handle ${q(a.handle)}`;
  }
}
