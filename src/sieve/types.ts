// The public types of the Sieve module (the contract in /work/notes/sieve-api.md); index.ts
// re-exports them.

export interface SieveError {
  line: number;
  column: number;
  message: string;
}

export interface SieveLimits {
  maxScriptBytes: number;
  maxActions: number;
  maxNesting: number;
  maxRedirects: number;
  cpuMs: number;
  maxIncludes: number;
}

export const DEFAULT_SIEVE_LIMITS: Readonly<SieveLimits> = Object.freeze({
  maxScriptBytes: 1024 * 1024,
  maxActions: 32,
  maxNesting: 32,
  maxRedirects: 4,
  cpuMs: 500,
  maxIncludes: 10,
});

export interface SieveMessage {
  /** Raw message bytes (header + body) as it will be stored. */
  raw: Buffer;
  envelope: { from: string; to: string; originalTo?: string; auth?: string | null };
}

export interface SieveEnv {
  user: string;
  userAddresses: readonly string[];
  spam: { score: number; percent: number } | null;
  virus: number | null;
  separator: string;
  mailboxExists(name: string): Promise<boolean>;
  /**
   * RFC 5490 §3.3-3.4, §4: the value of an IMAP METADATA entry (RFC 5464) of the user's mailbox
   * `mailbox`, or of the server when null; null when the entry (or mailbox) does not exist or the
   * name is not an entry name. Absent: no entry exists.
   */
  metadata?(mailbox: string | null, entry: string): Promise<string | null>;
  loadInclude(name: string, location: 'personal' | 'global'): Promise<string | null>;
  duplicate(id: string, seconds: number): Promise<boolean>;
  environment: Record<string, string>;
  now: Date;
}

export type SieveAction =
  | { type: 'keep'; flags: string[] | null }
  | { type: 'fileinto'; mailbox: string; flags: string[] | null; copy: boolean; create: boolean }
  | { type: 'redirect'; address: string; copy: boolean }
  | { type: 'discard' }
  | { type: 'reject'; reason: string; ereject: boolean }
  | { type: 'vacation'; to: string; from: string | null; subject: string; body: string; mime: boolean; handle: string; seconds: number; addresses: string[] };

export interface SieveResult {
  actions: SieveAction[];
  editedRaw: Buffer | null;
  errors: string[];
}
