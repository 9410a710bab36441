// Chooses the queue's storage by the store backend (docs/queue.md "Storage"): with
// [store] backend = "postgresql" the queue lives in the same database (PgQueueStore, several
// nodes); otherwise in data_dir/queue.sqlite and data_dir/queue/ (QueueStore).
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../log/logger.js';
import type { Store } from '../../store/types.js';
import { PostgresStore } from '../../store/postgres/store.js';
import { QueueStore, type QueueBackend } from '../queue.js';
import { PgQueueStore } from './postgres.js';

export async function openQueueBackend(config: Pick<Config, 'data_dir' | 'queue'>, store: Store, logger: Logger): Promise<QueueBackend> {
  if (store instanceof PostgresStore) return PgQueueStore.open(store, { leaseMs: config.queue.lease, logger });
  return new QueueStore(config.data_dir);
}
