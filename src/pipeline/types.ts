// The checks pipeline (DESIGN.md "Checks pipeline"): typed async stages the SMTP server calls
// at each step of a transaction. SPF, DKIM, DMARC, ARC, DNSBL, greylisting, rate limits and the
// spam score are all checks. A check never owns the session; it returns a verdict.

export interface CheckConnection {
  listener: string;
  ip: string;
  /** The hostname from reverse DNS, when known. */
  ptr?: string | null;
  tls: boolean;
}

export interface CheckTransaction extends CheckConnection {
  helo: string;
  /** Authenticated account address (submission), or null. */
  authenticated: string | null;
  /** Envelope sender, "" for <>. */
  mailFrom: string;
  /** Accepted recipients so far (for rcptTo: those before this one). */
  recipients: string[];
}

export interface CheckData extends CheckTransaction {
  /**
   * The raw message as received (before our Received header): a file path to stream from, or
   * null when the whole message is in `messageBytes` (a small message is never spooled).
   */
  messagePath: string | null;
  messageBytes?: Buffer | null;
  size: number;
  /**
   * The local accounts each recipient expands to through aliases, when the server knows them
   * (per-user spam thresholds are the accounts'); a recipient not listed stands for itself.
   */
  expansions?: Array<{ recipient: string; accounts: string[] }>;
}

export type CheckAction = 'accept' | 'reject' | 'tempfail' | 'quarantine';

export interface CheckVerdict {
  action: CheckAction;
  /** SMTP reply for reject/tempfail, e.g. { code: 550, enhanced: '5.7.1', text: 'SPF fail' }. */
  reply?: { code: number; enhanced: string; text: string };
  /** Header lines to prepend to the message (without CRLF), e.g. Authentication-Results. */
  headers?: string[];
  /** Header names (lower case) whose existing instances must be removed, e.g. forged Authentication-Results. */
  removeHeaders?: Array<{ name: string; when?: (value: string) => boolean }>;
  /** Spam score contribution. */
  score?: number;
  /**
   * Recipients for whom the message goes to Junk while the action stays 'accept' (their own spam
   * threshold is lower than the server's). With action 'quarantine' every recipient gets Junk.
   */
  quarantineRecipients?: string[];
}

export interface Check {
  readonly name: string;
  connect?(c: CheckConnection): Promise<CheckVerdict>;
  helo?(t: CheckTransaction): Promise<CheckVerdict>;
  mailFrom?(t: CheckTransaction): Promise<CheckVerdict>;
  rcptTo?(t: CheckTransaction, rcpt: string): Promise<CheckVerdict>;
  data?(d: CheckData): Promise<CheckVerdict>;
}

/** What the SMTP server calls. An empty pipeline accepts everything. */
export interface CheckPipeline {
  connect(c: CheckConnection): Promise<CheckVerdict>;
  helo(t: CheckTransaction): Promise<CheckVerdict>;
  mailFrom(t: CheckTransaction): Promise<CheckVerdict>;
  rcptTo(t: CheckTransaction, rcpt: string): Promise<CheckVerdict>;
  /** Combines the data-stage verdicts: headers from all, the first reject/tempfail wins, else quarantine if any. */
  data(d: CheckData): Promise<CheckVerdict>;
}

const ACCEPT: CheckVerdict = { action: 'accept' };

/** Runs the stages of every check in order; the first reject or tempfail stops the stage. */
export function createPipeline(checks: Check[]): CheckPipeline {
  async function run<A extends unknown[]>(stage: 'connect' | 'helo' | 'mailFrom' | 'rcptTo' | 'data', args: A): Promise<CheckVerdict> {
    const headers: string[] = [];
    const removeHeaders: NonNullable<CheckVerdict['removeHeaders']> = [];
    let score = 0;
    let quarantine = false;
    const quarantineRecipients = new Set<string>();
    for (const check of checks) {
      const fn = check[stage] as ((...a: A) => Promise<CheckVerdict>) | undefined;
      if (!fn) continue;
      const v = await fn.apply(check, args);
      if (v.headers) headers.push(...v.headers);
      if (v.removeHeaders) removeHeaders.push(...v.removeHeaders);
      if (v.score) score += v.score;
      if (v.quarantineRecipients) for (const r of v.quarantineRecipients) quarantineRecipients.add(r);
      if (v.action === 'reject' || v.action === 'tempfail') return { ...v, headers, removeHeaders, score };
      if (v.action === 'quarantine') quarantine = true;
    }
    if (!headers.length && !removeHeaders.length && !score && !quarantine && !quarantineRecipients.size) return ACCEPT;
    const verdict: CheckVerdict = { action: quarantine ? 'quarantine' : 'accept', headers, removeHeaders, score };
    if (quarantineRecipients.size && !quarantine) verdict.quarantineRecipients = [...quarantineRecipients];
    return verdict;
  }
  return {
    connect: (c) => run('connect', [c]),
    helo: (t) => run('helo', [t]),
    mailFrom: (t) => run('mailFrom', [t]),
    rcptTo: (t, r) => run('rcptTo', [t, r]),
    data: (d) => run('data', [d]),
  };
}
