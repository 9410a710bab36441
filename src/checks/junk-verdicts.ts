// Users' Junk verdicts (docs/checks.md): a copy or move into or out of the Junk mailbox, made by
// anyone through the store (IMAP COPY/MOVE today), is the user's opinion of those messages. The
// store publishes messages-copied events (ChangeFeed.observe); this observer records them with
// recordMoveVerdicts (spam.ts). The store's copy and move resolve after it has finished, so the
// verdict is written before IMAP answers. A failure is only logged.
import type { Logger } from '../log/logger.js';
import type { ChangeEvent, Store } from '../store/types.js';
import { recordMoveVerdicts } from './spam.js';
import type { ChecksStorage } from './storage.js';

/** Starts recording Junk verdicts from the store's copies and moves; returns the unsubscribe. */
export function observeJunkVerdicts(store: Pick<Store, 'changes' | 'getAccountById' | 'getMailboxById' | 'getMessages'>, storage: ChecksStorage, logger: Logger): () => void {
  const record = async (ev: Extract<ChangeEvent, { type: 'messages-copied' }>): Promise<void> => {
    try {
      const prefs = storage.spamPrefs();
      if (!prefs) return;
      const account = await store.getAccountById(ev.accountId);
      if (!account) return;
      await recordMoveVerdicts(prefs, store, { account: account.address, srcMailboxId: ev.srcMailboxId, dstMailboxId: ev.dstMailboxId, dstUids: ev.uids.map(([, dst]) => dst) });
    } catch (err) {
      logger.warn({ err, accountId: ev.accountId }, 'could not record a Junk verdict');
    }
  };
  // Every other event (each delivery, flag change, ...) passes synchronously, with no promise to wait for.
  return store.changes.observe((ev) => (ev.type === 'messages-copied' && ev.uids.length ? record(ev) : undefined));
}
