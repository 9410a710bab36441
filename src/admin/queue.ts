// The outbound queue: list, show, retry, hold, release, delete, bounce. Used by `yubin queue ...`
// (on the queue's storage, src/queue/index.ts queueAdmin) and /api/v1/queue (on the running
// server's queue). The scheduler polls the database, so a change takes effect within a second.
import { z } from 'zod';
import type { Queue, QueuedMessage } from '../queue/index.js';
import { validate } from './errors.js';
import { queueIdField } from './fields.js';

/** What the admin operations use of the queue. */
export type QueueAdmin = Pick<Queue, 'list' | 'show' | 'retry' | 'hold' | 'release' | 'delete' | 'bounce' | 'read'>;

export const QueueIdInput = z.strictObject({ id: queueIdField });
export const QueueRetryInput = z.strictObject({ id: queueIdField.nullable().meta({ description: 'a queue id, or null for every message' }) });
export const QueueDeleteInput = z.strictObject({ id: queueIdField, bounce: z.boolean().optional().meta({ description: 'send the sender a failure DSN for the recipients still pending' }) });

/** Every message in the queue, paged through 1000 at a time (each page is one short query). */
export async function listQueue(q: QueueAdmin): Promise<QueuedMessage[]> {
  const all: QueuedMessage[] = [];
  for (let page = await q.list({ limit: 1000 }); page.length; page = await q.list({ limit: 1000, afterId: page[page.length - 1]!.id })) all.push(...page);
  return all;
}

export function showQueued(q: QueueAdmin, input: z.input<typeof QueueIdInput>): Promise<QueuedMessage> {
  return q.show(validate(QueueIdInput, input).id);
}

/** Makes the pending recipients of one message (or of all, with id null) due now. */
export async function retryQueued(q: QueueAdmin, input: z.input<typeof QueueRetryInput>): Promise<{ recipients: number }> {
  return { recipients: await q.retry(validate(QueueRetryInput, input).id) };
}

export async function holdQueued(q: QueueAdmin, input: z.input<typeof QueueIdInput>): Promise<{ id: string }> {
  const { id } = validate(QueueIdInput, input);
  await q.hold(id);
  return { id };
}

export async function releaseQueued(q: QueueAdmin, input: z.input<typeof QueueIdInput>): Promise<{ id: string }> {
  const { id } = validate(QueueIdInput, input);
  await q.release(id);
  return { id };
}

export async function deleteQueued(q: QueueAdmin, input: z.input<typeof QueueDeleteInput>): Promise<{ id: string; bounced: boolean }> {
  const { id, bounce = false } = validate(QueueDeleteInput, input);
  await q.delete(id, { bounce });
  return { id, bounced: bounce };
}

export async function bounceQueued(q: QueueAdmin, input: z.input<typeof QueueIdInput>): Promise<{ id: string }> {
  const { id } = validate(QueueIdInput, input);
  await q.bounce(id);
  return { id };
}
