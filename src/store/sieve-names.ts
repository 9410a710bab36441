// Sieve script names (RFC 5804 §1.6), checked the same way by every backend and by ManageSieve, and the
// scripts table's rows as both SQL backends read them.
import { StoreError, type SieveScript, type SieveScriptInfo } from './types.js';

/** Longest script name, in characters. */
export const MAX_SCRIPT_NAME = 128;

/**
 * RFC 5804 §1.6: a script name is Net-Unicode (RFC 5198) without control characters, LINE
 * SEPARATOR or PARAGRAPH SEPARATOR; this server also refuses the empty name (SETACTIVE "" means
 * "none") and names over MAX_SCRIPT_NAME characters.
 */
export function checkScriptName(name: string): void {
  if (name.length === 0) throw new StoreError('invalid', 'a script name cannot be empty');
  if ([...name].length > MAX_SCRIPT_NAME) throw new StoreError('invalid', `a script name is at most ${MAX_SCRIPT_NAME} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(name)) throw new StoreError('invalid', 'a script name cannot contain control characters or line separators (RFC 5804 §1.6)');
  if (/[\ud800-\udfff]/.test(name.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''))) throw new StoreError('invalid', 'a script name must be valid UTF-8');
  if (name.normalize('NFC') !== name) throw new StoreError('invalid', 'a script name must be in Unicode normalization form C (RFC 5198)');
}

export interface ScriptRow {
  name: string;
  text: string;
  active: number;
  updated_at: number;
}

export const toInfo = (r: { name: string; active?: number; size: number; updated_at: number }): SieveScriptInfo => ({
  name: r.name,
  active: r.active === 1,
  size: r.size,
  updatedAt: new Date(r.updated_at),
});

export const toScript = (r: ScriptRow): SieveScript => ({
  name: r.name,
  text: r.text,
  active: r.active === 1,
  size: Buffer.byteLength(r.text, 'utf8'),
  updatedAt: new Date(r.updated_at),
});

/** Redirect counts older than this many days are pruned. */
export const REDIRECT_DAYS_KEPT = 3;
