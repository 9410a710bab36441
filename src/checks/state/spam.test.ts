// Spam thresholds and Junk verdicts on PostgreSQL are shared by every node: two PostgresStores
// ("nodes") on one throwaway database, each with its own data_dir, through the checks' storage as
// the server builds it; neither node writes a checks.sqlite.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createChecksStorage, spamPrefsFor } from '../storage.js';
import { recordMoveVerdicts } from '../spam.js';
import { createLogger } from '../../log/logger.js';
import { pgTestNodes } from '../../../test/helpers/pg-nodes.js';

const twoNodes = await pgTestNodes('spam preferences on PostgreSQL');

if (twoNodes) {
  const logger = createLogger('silent');
  describe('spam thresholds and Junk verdicts on PostgreSQL, two nodes', () => {
    it('a threshold set on node A applies on node B; cleared, the default applies again', async () => {
      const [a, b] = await twoNodes();
      const pa = createChecksStorage(a.dir, logger, a.store).spamPrefs()!;
      const pb = createChecksStorage(b.dir, logger, b.store).spamPrefs()!;
      assert.equal(await pb.thresholdFor('bob@b.test', 5), 5);
      await pa.setThreshold('Bob@B.test', 2.5);
      assert.equal(await pb.getThreshold('bob@b.test'), 2.5);
      assert.equal(await pb.thresholdFor('BOB@b.test', 5), 2.5);
      // the CLI's way (yubin user spam-threshold) reaches the same rows
      await spamPrefsFor(b.dir, b.store).setThreshold('bob@b.test', 7);
      assert.equal(await pa.thresholdFor('bob@b.test', 5), 7);
      await pa.setThreshold('bob@b.test', null);
      assert.equal(await pb.getThreshold('bob@b.test'), null);
      for (const n of [a, b]) assert.ok(!existsSync(join(n.dir, 'checks.sqlite')), 'nothing node-local');
    });

    it('verdicts recorded on either node are one log, newest first', async () => {
      const [a, b] = await twoNodes();
      const pa = createChecksStorage(a.dir, logger, a.store).spamPrefs()!;
      const pb = createChecksStorage(b.dir, logger, b.store).spamPrefs()!;
      const boxes: Record<number, { specialUse: string | null }> = { 1: { specialUse: null }, 2: { specialUse: '\\Junk' } };
      const store = {
        getMailboxById: async (id: number) => (boxes[id] ?? null) as never,
        getMessages: async (_mb: number, uids: number[]) => uids.map((uid) => ({ uid, blobId: `blob${uid}` })) as never,
      };
      assert.equal(await recordMoveVerdicts(pa, store, { account: 'Alice@a.test', srcMailboxId: 1, dstMailboxId: 2, dstUids: [5, 6] }), 'spam');
      assert.equal(await recordMoveVerdicts(pb, store, { account: 'alice@a.test', srcMailboxId: 2, dstMailboxId: 1, dstUids: [7] }), 'ham');
      const list = await pa.listVerdicts('alice@a.test');
      assert.deepEqual(list.map((v) => [v.blobId, v.verdict]), [['blob7', 'ham'], ['blob6', 'spam'], ['blob5', 'spam']]);
      assert.equal((await pb.listVerdicts('alice@a.test', 1)).length, 1);
      assert.deepEqual(await pb.listVerdicts('bob@a.test'), []);
      for (const n of [a, b]) assert.ok(!existsSync(join(n.dir, 'checks.sqlite')), 'nothing node-local');
    });
  });
}
