// The checks' state on PostgreSQL is shared by every node: a triplet greylisted through node A
// passes on node B once the delay is over, and rate-limit counts added on one node count on the
// other. Two PostgresStores ("nodes") on one throwaway database, each with its own data_dir.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createChecksStorage, type ChecksStorage } from '../storage.js';
import { createLogger } from '../../log/logger.js';
import { pgTestNodes } from '../../../test/helpers/pg-nodes.js';

const nodes = await pgTestNodes('checks state on PostgreSQL');

if (nodes) {
  const logger = createLogger('silent');

  async function twoNodes(): Promise<[ChecksStorage, ChecksStorage]> {
    const [a, b] = await nodes!();
    return [createChecksStorage(a.dir, logger, a.store), createChecksStorage(b.dir, logger, b.store)];
  }

  describe('checks state on PostgreSQL, two nodes', () => {
    it('greylisting: deferred on node A, the retry after the delay passes on node B, then the sender domain is known on both', async () => {
      const [a, b] = await twoNodes();
      const opts = { delayMs: 60_000, retryWindowMs: 3_600_000, expireMs: 86_400_000 };
      const ga = a.greylist(opts);
      const gb = b.greylist(opts);
      const t0 = 1_700_000_000_000;
      assert.deepEqual(await ga.check('192.0.2.7', 'x@sender.test', 'bob@a.test', t0), { pass: false, retryInMs: 60_000 });
      // too early on the other node: still deferred, counted from node A's first sight
      assert.deepEqual(await gb.check('192.0.2.7', 'x@sender.test', 'bob@a.test', t0 + 10_000), { pass: false, retryInMs: 50_000 });
      assert.deepEqual(await gb.check('192.0.2.7', 'x@sender.test', 'bob@a.test', t0 + 61_000), { pass: true, reason: 'retried' });
      assert.deepEqual(await ga.check('192.0.2.9', 'y@sender.test', 'carol@a.test', t0 + 62_000), { pass: true, reason: 'known-sender' });
      // a sweep far in the future forgets everything, on every node
      assert.ok((await ga.sweep(t0 + 10 * 86_400_000)) >= 2);
      assert.equal((await gb.check('192.0.2.7', 'x@sender.test', 'bob@a.test', t0 + 10 * 86_400_000)).pass, false);
    });

    it('rate limits: counts added on either node count against one limit', async () => {
      const [a, b] = await twoNodes();
      const ra = a.rateLimiter();
      const rb = b.rateLimiter();
      const now = 1_700_000_000_000 - (1_700_000_000_000 % 3_600_000) + 60_000;
      for (let i = 0; i < 3; i++) await ra.add('ip:192.0.2.1:m', 1, now);
      for (let i = 0; i < 2; i++) await rb.add('ip:192.0.2.1:m', 1, now);
      assert.equal(await ra.count('ip:192.0.2.1:m', now), 5);
      assert.equal(await rb.count('ip:192.0.2.1:m', now), 5);
      assert.equal(await rb.allows('ip:192.0.2.1:m', 1, 5, now), false, 'node B sees node A\'s counts');
      assert.equal(await rb.allows('ip:192.0.2.2:m', 1, 5, now), true, 'another key is independent');
      // concurrent increments from both nodes are all counted (atomic upsert)
      await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? ra : rb).add('sender:z@x.test:r', 1, now)));
      assert.equal(await ra.count('sender:z@x.test:r', now), 40);
    });
  });
}
