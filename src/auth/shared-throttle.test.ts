// The auth throttle on PostgreSQL counts every node's failures: two PostgresStores ("nodes") on one
// throwaway database, each with its own AuthThrottle over the shared failure log.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AuthThrottle, type ThrottleDecision } from './throttle.js';
import { pgFailureLog } from './shared-throttle.js';
import { pgTestNodes } from '../../test/helpers/pg-nodes.js';

const twoNodes = await pgTestNodes('auth throttle on PostgreSQL');

if (twoNodes) {
  const WINDOW = 15 * 60_000;
  let clock = 1_700_000_000_000;
  const now = () => clock;
  const throttles = async (): Promise<[AuthThrottle, AuthThrottle]> => {
    const [a, b] = await twoNodes();
    const make = (pool: typeof a.store.pool) =>
      new AuthThrottle({ freeFailures: 1, maxFailures: 4, windowMs: WINDOW, baseDelayMs: 1000, maxDelayMs: 15_000, accountMaxDelayMs: 4000, now, shared: pgFailureLog(pool, { windowMs: WINDOW }) });
    return [make(a.store.pool), make(b.store.pool)];
  };
  const fail = (e: unknown) => assert.fail(e instanceof Error ? e : String(e));
  /** One login as the authenticator runs it: pull, begin, (check,) end, push. */
  async function attempt(t: AuthThrottle, ip: string, account: string, ok: boolean): Promise<ThrottleDecision> {
    await t.pullShared(ip, account, fail);
    const d = t.begin(ip, account);
    if (d.allowed) {
      t.end(ip, account, ok);
      await t.pushShared(ip, account, ok, fail);
    }
    return d;
  }

  describe('auth throttle on PostgreSQL, two nodes', () => {
    it('an IP refused after failures spread over both nodes; the refusal ends when the window has passed', async () => {
      const [a, b] = await throttles();
      for (let i = 0; i < 2; i++) assert.equal((await attempt(a, '192.0.2.1', 'bob@a.test', false)).allowed, true);
      assert.equal((await attempt(b, '192.0.2.1', 'carol@a.test', false)).allowed, true);
      assert.equal((await attempt(b, '192.0.2.1', 'dave@a.test', false)).allowed, true);
      const refused = await attempt(a, '192.0.2.1', 'erin@a.test', true);
      assert.equal(refused.allowed, false, 'node A counts node B\'s failures: 4 of 4');
      assert.equal((await attempt(b, '192.0.2.1', 'erin@a.test', true)).allowed, false);
      assert.equal((await attempt(b, '192.0.2.2', 'erin@a.test', true)).allowed, true, 'another address is not refused');
      clock += WINDOW + 1;
      assert.equal((await attempt(a, '192.0.2.1', 'erin@a.test', true)).allowed, true);
    });

    it('an account is slowed by failures from many addresses on the other node; a success clears only its own address\'s for the account', async () => {
      const [a, b] = await throttles();
      for (const ip of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) await attempt(a, ip, 'frank@a.test', false);
      const slowed = await attempt(b, '203.0.113.9', 'frank@a.test', true);
      assert.ok(slowed.allowed && slowed.delayMs === 4000, `node B delays frank: ${JSON.stringify(slowed)}`);
      // the owner logs in on node B from an address that failed on node A: that address's failure stops counting for the account
      await attempt(b, '198.51.100.1', 'frank@a.test', true);
      const after = await attempt(b, '203.0.113.10', 'frank@a.test', true);
      assert.ok(after.allowed && after.delayMs === 2000, `two failures left for frank: ${JSON.stringify(after)}`);
      // but still for the address (its own count, on node A's record)
      await b.pullShared('198.51.100.1', 'grace@a.test', fail);
      assert.equal(b.failures('ip', '198.51.100.1'), 1);
    });
  });
}
