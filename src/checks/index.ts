// The checks of the inbound smtp listener (and the submission rate limit), as pipeline stages
// (src/checks/types.ts). Policy comes from [checks] (docs/checks.md). Every stage runs under
// [checks] timeout; a check that times out or throws gives [checks] timeout_action.
import type { Config } from '../config/schema.js';
import type { Resolver } from '../dns/resolver.js';
import type { Store } from '../store/types.js';
import type { Logger } from '../log/logger.js';
import type { Check, CheckConnection, CheckData, CheckTransaction, CheckVerdict } from './types.js';
import { mailauthResolver, withTimeout } from './dns.js';
import { parseCidr, inNetworks, type Cidr } from './ip.js';
import { checkDnsbls } from './dnsbl.js';
import { openChecksDb, type ChecksDb } from './db.js';
import { createGreylist } from './greylist.js';
import { createRateLimiter } from './ratelimit.js';
import { createSpamPrefs, scoreMessage, spamHeaders, type SpamPrefs } from './spam.js';
import { authenticateMessage, authenticationResults, authservId, checkSpfMailFrom, type SpfOutcome } from './spf-dkim-dmarc.js';

export type { Check } from './types.js';

export interface CheckDeps {
  config: Config;
  resolver: Resolver;
  store: Store;
  logger: Logger;
  /** The clock (tests move it); default the system clock. */
  now?: () => Date;
  /** Random numbers in [0, 1) for DMARC pct sampling (tests fix it); default Math.random. */
  random?: () => number;
}

const ACCEPT: CheckVerdict = { action: 'accept' };

function trustedNets(config: Config, logger: Logger): Cidr[] {
  const nets: Cidr[] = [];
  for (const s of config.checks.trusted_networks) {
    const c = parseCidr(s);
    if (c) nets.push(c);
    else logger.warn({ network: s }, 'checks: ignoring malformed trusted_networks entry');
  }
  return nets;
}

/** Only mail from outside is checked: the smtp listener, not authenticated. */
function isInbound(c: CheckConnection & { authenticated?: string | null }): boolean {
  return c.listener === 'smtp' && !c.authenticated;
}

/** Wraps every stage of a check with the timeout and the failure policy. */
export function guarded(check: Check, config: Config, logger: Logger): Check {
  const onFailure = (stage: string, err: unknown): CheckVerdict => {
    logger.warn({ check: check.name, stage, err: err instanceof Error ? err.message : String(err) }, 'check failed');
    if (config.checks.timeout_action === 'tempfail') {
      return { action: 'tempfail', reply: { code: 451, enhanced: '4.4.3', text: `Temporary failure in ${check.name} check, try again later` } };
    }
    return ACCEPT;
  };
  const wrap = <A extends unknown[]>(stage: keyof Check, fn: ((...a: A) => Promise<CheckVerdict>) | undefined) =>
    fn
      ? async (...a: A): Promise<CheckVerdict> => {
          try {
            return await withTimeout(fn.apply(check, a), config.checks.timeout, `${check.name} ${String(stage)}`);
          } catch (err) {
            return onFailure(String(stage), err);
          }
        }
      : undefined;
  const out: Check = { name: check.name };
  const stages = ['connect', 'helo', 'mailFrom', 'rcptTo', 'data'] as const;
  for (const s of stages) {
    const w = wrap(s, check[s] as ((...a: unknown[]) => Promise<CheckVerdict>) | undefined);
    if (w) (out as unknown as Record<string, unknown>)[s] = w;
  }
  return out;
}

/** DNSBL at connect: 554 5.7.1 naming the list. */
export function dnsblCheck(deps: CheckDeps, trusted: Cidr[]): Check {
  const zones = deps.config.checks.dnsbl_zones;
  return {
    name: 'dnsbl',
    async connect(c) {
      if (!zones.length || c.listener !== 'smtp' || inNetworks(trusted, c.ip)) return ACCEPT;
      const { hit, errors } = await checkDnsbls(deps.resolver, zones, c.ip);
      for (const e of errors) deps.logger.warn({ ip: c.ip, err: e }, 'dnsbl lookup failed');
      if (!hit) return ACCEPT;
      deps.logger.info({ ip: c.ip, zone: hit.zone, codes: hit.codes }, 'client listed in DNSBL');
      // RFC 5782 §2.1: the reason (TXT) is for the rejected client, so it is quoted back.
      const why = hit.reason ? `: ${hit.reason.replace(/[\r\n]+/g, ' ').slice(0, 200)}` : '';
      return { action: 'reject', reply: { code: 554, enhanced: '5.7.1', text: `Service unavailable; client [${c.ip}] blocked using ${hit.zone}${why}` } };
    },
  };
}

/** Greylisting at RCPT TO (optional). */
export function greylistCheck(deps: CheckDeps, trusted: Cidr[], now: () => Date): Check {
  const c = deps.config.checks;
  let list: ReturnType<typeof createGreylist> | null = null;
  let lastSweep = 0;
  return {
    name: 'greylist',
    async rcptTo(t, rcpt) {
      if (!c.greylist || !isInbound(t) || inNetworks(trusted, t.ip)) return ACCEPT;
      list ??= createGreylist(openChecksDb(deps.config.data_dir), { delayMs: c.greylist_delay, retryWindowMs: c.greylist_retry_window, expireMs: c.greylist_expire });
      const ms = now().getTime();
      if (ms - lastSweep > 3_600_000) {
        lastSweep = ms;
        list.sweep(ms);
      }
      const d = list.check(t.ip, t.mailFrom, rcpt, ms);
      if (d.pass) return ACCEPT;
      const secs = Math.ceil(d.retryInMs / 1000);
      return { action: 'tempfail', reply: { code: 451, enhanced: '4.7.1', text: `Greylisted, please try again in ${secs} seconds` } };
    },
  };
}

/**
 * Hourly rate limits: per client IP and per sender on the smtp listener, per authenticated user
 * everywhere (submission). Messages are counted when their data is accepted, recipients as they
 * are accepted; a limit reached gives 451 4.7.1.
 */
export function rateLimitCheck(deps: CheckDeps, trusted: Cidr[], now: () => Date): Check {
  const c = deps.config.checks;
  const limiter = createRateLimiter();
  type Key = { key: string; messages: number; recipients: number; what: string };
  const keysFor = (t: CheckTransaction): Key[] => {
    if (t.authenticated) return [{ key: `user:${t.authenticated.toLowerCase()}`, messages: c.ratelimit_user_messages, recipients: c.ratelimit_user_recipients, what: 'user' }];
    if (t.listener !== 'smtp' || inNetworks(trusted, t.ip)) return [];
    const keys: Key[] = [{ key: `ip:${t.ip}`, messages: c.ratelimit_ip_messages, recipients: c.ratelimit_ip_recipients, what: 'client address' }];
    if (t.mailFrom) keys.push({ key: `sender:${t.mailFrom.toLowerCase()}`, messages: c.ratelimit_sender_messages, recipients: c.ratelimit_sender_recipients, what: 'sender' });
    return keys;
  };
  const limited = (what: string, kind: string): CheckVerdict => ({
    action: 'tempfail',
    reply: { code: 451, enhanced: '4.7.1', text: `Rate limit exceeded: too many ${kind} per hour from this ${what}, try again later` },
  });
  return {
    name: 'ratelimit',
    async mailFrom(t) {
      const ms = now().getTime();
      for (const k of keysFor(t)) if (!limiter.allows(`${k.key}:m`, 1, k.messages, ms)) return limited(k.what, 'messages');
      return ACCEPT;
    },
    async rcptTo(t) {
      const ms = now().getTime();
      const keys = keysFor(t);
      for (const k of keys) if (!limiter.allows(`${k.key}:r`, 1, k.recipients, ms)) return limited(k.what, 'recipients');
      for (const k of keys) limiter.add(`${k.key}:r`, 1, ms);
      return ACCEPT;
    },
    async data(d) {
      const ms = now().getTime();
      for (const k of keysFor(d)) limiter.add(`${k.key}:m`, 1, ms);
      return ACCEPT;
    },
  };
}

/** SPF results computed at MAIL FROM, kept for the data stage of the same transaction. */
function spfMemo() {
  const memo = new Map<string, { at: number; result: Promise<SpfOutcome> }>();
  const TTL = 15 * 60_000;
  return {
    get(key: string, ms: number, compute: () => Promise<SpfOutcome>): Promise<SpfOutcome> {
      const hit = memo.get(key);
      if (hit && ms - hit.at < TTL) return hit.result;
      const result = compute();
      result.catch(() => memo.delete(key));
      memo.set(key, { at: ms, result });
      if (memo.size > 2000) for (const k of memo.keys()) { memo.delete(k); if (memo.size <= 1000) break; }
      return result;
    },
    take(key: string, ms: number): Promise<SpfOutcome> | undefined {
      const hit = memo.get(key);
      memo.delete(key);
      return hit && ms - hit.at < TTL ? hit.result : undefined;
    },
  };
}

/**
 * SPF, DKIM, ARC, DMARC, the Authentication-Results field and the spam score (smtp listener).
 * DMARC policy: reject → 550 5.7.1, quarantine → Junk (RFC 7489 §6.6.4 with pct sampling).
 */
export function authenticationCheck(deps: CheckDeps, now: () => Date, prefs: () => SpamPrefs | null): Check {
  const { config, logger } = deps;
  const c = config.checks;
  const resolver = mailauthResolver(deps.resolver);
  const random = deps.random ?? Math.random;
  const memo = spfMemo();
  const userThresholds = new Map(Object.entries(c.user_spam_thresholds).map(([k, v]) => [k.toLowerCase(), v]));
  const keyOf = (t: CheckTransaction): string => `${t.ip}\0${t.helo}\0${t.mailFrom}`;
  const spfParams = (t: CheckTransaction) => ({ ip: t.ip, helo: t.helo, mailFrom: t.mailFrom, hostname: config.hostname, resolver });
  return {
    name: 'authentication',
    async mailFrom(t) {
      if (!c.enabled || !isInbound(t)) return ACCEPT;
      const spf = memo.get(keyOf(t), now().getTime(), () => checkSpfMailFrom(spfParams(t)));
      if (c.spf_fail_action !== 'reject') return ACCEPT;
      const r = await spf;
      if (r.result !== 'fail') return ACCEPT;
      // RFC 7208 §8.4: a receiver may reject a fail result; RFC 7372 §3.2: 5.7.23 SPF validation failed.
      return { action: 'reject', reply: { code: 550, enhanced: '5.7.23', text: `SPF fail: ${r.domain} does not designate ${t.ip} as permitted sender` } };
    },
    async data(d: CheckData) {
      if (!c.enabled || !isInbound(d)) return ACCEPT;
      const ms = now().getTime();
      const auth = await authenticateMessage({
        ...spfParams(d),
        messagePath: d.messagePath,
        minRsaBits: c.dkim_min_rsa_bits,
        arc: c.arc,
        // an SPF lookup started at MAIL FROM that failed is simply asked again
        spf: await memo.take(keyOf(d), ms)?.catch(() => undefined),
        checkHelo: c.spf_helo,
        now: now(),
      });
      const headers = [authenticationResults(config.hostname, auth, d.mailFrom, d.helo)];

      const { score, rules } = scoreMessage({ auth, helo: d.helo, ptr: d.ptr, mailFrom: d.mailFrom, hostname: config.hostname });
      headers.push(...spamHeaders(score, c.spam_threshold, rules));
      const base = { headers, score };
      const log = { ip: d.ip, from: d.mailFrom, spf: auth.spf.result, dkim: auth.dkim.map((x) => `${x.domain}:${x.result}`), dmarc: auth.dmarc?.result, score };

      const dm = auth.dmarc;
      if (c.dmarc_enforce && dm?.result === 'fail' && (dm.policy === 'reject' || dm.policy === 'quarantine')) {
        // RFC 7489 §6.6.4: pct selects the share of failing mail the policy applies to; the rest
        // gets the next policy down (reject → quarantine, quarantine → none).
        const sampled = random() * 100 < dm.pct;
        const applied = sampled ? dm.policy : dm.policy === 'reject' ? 'quarantine' : 'none';
        if (applied === 'reject') {
          logger.info(log, 'DMARC reject');
          return { action: 'reject', ...base, reply: { code: 550, enhanced: '5.7.1', text: `Rejected by DMARC policy for ${dm.domain}` } };
        }
        if (applied === 'quarantine') {
          logger.info(log, 'DMARC quarantine');
          return { action: 'quarantine', ...base };
        }
      }
      if (c.spam_reject_threshold > 0 && score >= c.spam_reject_threshold) {
        logger.info(log, 'spam rejected');
        return { action: 'reject', ...base, reply: { code: 550, enhanced: '5.7.1', text: `Message refused as spam (score ${score.toFixed(1)})` } };
      }
      // Junk per user: each local account a recipient expands to (an alias to several users, each
      // with a threshold of its own), by the user's own threshold, else the server's.
      const p = prefs();
      const users = new Map<string, string>();
      for (const r of d.recipients) {
        const e = d.expansions?.find((x) => x.recipient === r);
        for (const a of e ? e.accounts : [r]) if (!users.has(a.toLowerCase())) users.set(a.toLowerCase(), a);
      }
      const junk = [...users.values()].filter((u) => {
        const def = userThresholds.get(u.toLowerCase()) ?? c.spam_threshold;
        return score >= (p ? p.thresholdFor(u, def) : def);
      });
      logger.debug(log, 'message authenticated');
      if (users.size && junk.length === users.size) return { action: 'quarantine', ...base };
      // only forwarded copies (or no recipients): the server's threshold decides
      if (!users.size && score >= c.spam_threshold) return { action: 'quarantine', ...base };
      if (junk.length) return { action: 'accept', ...base, quarantineRecipients: junk };
      return { action: 'accept', ...base };
    },
  };
}

/**
 * RFC 8601 §5: Authentication-Results fields claiming our authserv-id that arrive from outside (or
 * from a client) are forgeries: removed from every message, whatever else happens to the checks.
 */
export function forgedAuthResultsCheck(config: Config): Check {
  const hostname = config.hostname.toLowerCase();
  const ar = { name: 'authentication-results', when: (v: string) => authservId(v) === hostname };
  const plain: CheckVerdict = { action: 'accept', removeHeaders: [ar] };
  // Where we score, X-Spam-Score/X-Spam-Status from outside would contradict ours (and could
  // fool a client's filter): only ours are kept.
  const scored: CheckVerdict = { action: 'accept', removeHeaders: [ar, { name: 'x-spam-score' }, { name: 'x-spam-status' }] };
  return { name: 'forged-authentication-results', data: async (d) => (config.checks.enabled && isInbound(d) ? scored : plain) };
}

/**
 * The checks of the inbound smtp listener, in order: forged Authentication-Results removal, DNSBL
 * (connect), greylisting (RCPT TO), rate limits (MAIL FROM, RCPT TO; a greylisted recipient is not
 * counted), then sender authentication and the spam score (end of data). Each is guarded by
 * [checks] timeout. Submission listeners may use the same list: only the per-user rate limit and
 * the forged Authentication-Results removal apply to authenticated sessions.
 */
export function buildInboundChecks(deps: CheckDeps): Check[] {
  const now = deps.now ?? (() => new Date());
  const trusted = trustedNets(deps.config, deps.logger);
  let prefs: SpamPrefs | null | undefined;
  const getPrefs = (): SpamPrefs | null => {
    if (prefs === undefined) {
      try {
        prefs = openSpamPrefs(deps.config.data_dir);
      } catch (err) {
        deps.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'checks database unavailable: per-user spam thresholds ignored');
        prefs = null;
      }
    }
    return prefs;
  };
  return [
    forgedAuthResultsCheck(deps.config),
    ...[dnsblCheck(deps, trusted), greylistCheck(deps, trusted, now), rateLimitCheck(deps, trusted, now), authenticationCheck(deps, now, getPrefs)].map((ch) => guarded(ch, deps.config, deps.logger)),
  ];
}

/** For submission listeners: the per-user hourly rate limit only. */
export function buildSubmissionChecks(deps: CheckDeps): Check[] {
  const now = deps.now ?? (() => new Date());
  return [forgedAuthResultsCheck(deps.config), guarded(rateLimitCheck(deps, [], now), deps.config, deps.logger)];
}

const spamPrefsByDb = new WeakMap<ChecksDb, SpamPrefs>();

/** The per-user spam threshold and Junk verdict log (data_dir/checks.sqlite), for the CLI and IMAP. */
export function openSpamPrefs(dataDir: string): SpamPrefs {
  // One SpamPrefs (prepared statements) per open database: IMAP calls this on every COPY/MOVE.
  const db = openChecksDb(dataDir);
  let prefs = spamPrefsByDb.get(db);
  if (!prefs) spamPrefsByDb.set(db, (prefs = createSpamPrefs(db)));
  return prefs;
}

export { createPipeline } from './types.js';
export { verdictForMove, recordMoveVerdicts } from './spam.js';
export { createSrs } from './srs.js';
export { arcSealForwarded } from './arc-seal.js';
export { ensureDomainKeys } from './dkim-keys.js';
