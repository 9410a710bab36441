// Sender authentication and the spam score (MAIL FROM and data stages): SPF, DKIM, ARC, DMARC
// (spf-dkim-dmarc.ts), the Authentication-Results field and the score (spam.ts).
import type { Check, CheckData, CheckTransaction } from './types.js';
import { mailauthResolver } from './dns.js';
import { scoreMessage, spamHeaders, type SpamPrefs } from './spam.js';
import { authenticateMessage, authenticationResults, checkSpfHelo, checkSpfMailFrom, type SpfOutcome } from './spf-dkim-dmarc.js';
import { ACCEPT, isInbound, type CheckDeps } from './deps.js';
import { poolFor } from '../workers/registry.js';

/**
 * How long an SPF result is used again: the MAIL FROM result for the same transaction's data
 * stage, and both results (MAIL FROM and HELO) for the next transactions with the same client
 * address, HELO name and sender (a sender's burst: the same DNS answers, which the resolver
 * caches for their TTL anyway, would give the same result; evaluating it cost about 40 µs of the
 * main thread per message in the ingest profile). A temperror is not kept.
 */
export const SPF_REUSE_MS = 10_000;

/** SPF results by (client address, HELO, sender), kept SPF_REUSE_MS. */
function spfMemo() {
  const memo = new Map<string, { at: number; result: Promise<SpfOutcome> }>();
  return {
    get(key: string, ms: number, compute: () => Promise<SpfOutcome>): Promise<SpfOutcome> {
      const hit = memo.get(key);
      if (hit && ms - hit.at < SPF_REUSE_MS && ms >= hit.at) return hit.result;
      const result = compute();
      const entry = { at: ms, result };
      const forget = () => {
        if (memo.get(key) === entry) memo.delete(key);
      };
      result.then((r) => r.result === 'temperror' && forget(), forget);
      memo.set(key, entry);
      if (memo.size > 2000) for (const k of memo.keys()) { memo.delete(k); if (memo.size <= 1000) break; }
      return result;
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
  const heloMemo = spfMemo();
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
        messageBytes: d.messageBytes ?? null,
        minRsaBits: c.dkim_min_rsa_bits,
        arc: c.arc,
        // the result of MAIL FROM (or of a recent transaction like this one); one that failed is asked again
        spf: await memo.get(keyOf(d), ms, () => checkSpfMailFrom(spfParams(d))).catch(() => undefined),
        ...(c.spf_helo ? { spfHelo: await heloMemo.get(`${d.ip}\0${d.helo}`, ms, () => checkSpfHelo(spfParams(d))).catch(() => undefined) } : {}),
        checkHelo: c.spf_helo,
        now: now(),
        // DKIM/ARC/DMARC in the server's worker pool (src/workers), stopped at [checks] timeout
        workers: poolFor(config),
        timeoutMs: c.timeout,
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
      const junk: string[] = [];
      for (const u of users.values()) {
        const def = userThresholds.get(u.toLowerCase()) ?? c.spam_threshold;
        if (score >= (p ? await p.thresholdFor(u, def) : def)) junk.push(u);
      }
      logger.debug(log, 'message authenticated');
      if (users.size && junk.length === users.size) return { action: 'quarantine', ...base };
      // only forwarded copies (or no recipients): the server's threshold decides
      if (!users.size && score >= c.spam_threshold) return { action: 'quarantine', ...base };
      if (junk.length) return { action: 'accept', ...base, quarantineRecipients: junk };
      return { action: 'accept', ...base };
    },
  };
}
