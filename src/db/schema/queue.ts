// The outbound queue's tables, one description for both engines (schema.ts): queue.sqlite's
// messages and recipients (src/queue/queue.ts), and in PostgreSQL the same rows as queue_messages
// and queue_recipients beside the store's tables (src/queue/store/postgres.ts), with the lease
// columns and the message bytes as a held blob of the store. Same columns and units, so the row
// mapping is shared.
import { addColumn, bigint, blob, index, integer, table, text, type ModuleMigrations } from './schema.js';

export const QUEUE_MODULE: ModuleMigrations = {
  module: 'queue',
  prefix: { postgresql: 'queue_' },
  // Version 1 of queue.sqlite was counted in PRAGMA user_version before schema_migrations.
  legacyUserVersion: true,
  migrations: [
    {
      version: 1,
      name: 'messages and recipients, leases, bytes as held blobs',
      steps: [
        table('messages', [
          text('id', { primaryKey: true }),
          text('mail_from'),
          text('ret', { nullable: true }),
          text('envid', { nullable: true }),
          integer('smtputf8', { default: 0 }),
          text('body', { nullable: true }),
          integer('require_tls', { default: 0 }),
          bigint('size'),
          integer('needs_utf8', { default: 0 }),
          text('header_from_domain', { nullable: true }),
          text('submitted_by', { nullable: true }),
          text('client_ip', { nullable: true }),
          bigint('created_at'),
          integer('held', { default: 0 }),
          // PostgreSQL: the bytes are this blob of the store (held), and a node's lease on the message.
          text('blob_id', { only: 'postgresql' }),
          text('lease_owner', { nullable: true, only: 'postgresql' }),
          bigint('lease_until', { nullable: true, only: 'postgresql' }),
        ]),
        table(
          'recipients',
          [
            text('message_id', { references: { table: 'messages', column: 'id', onDelete: 'cascade' } }),
            integer('idx'),
            text('address'),
            text('domain'),
            text('notify', { nullable: true }),
            text('orcpt_type', { nullable: true }),
            text('orcpt_address', { nullable: true }),
            text('state'),
            integer('attempts', { default: 0 }),
            bigint('next_attempt'),
            bigint('last_attempt', { nullable: true }),
            text('last_reply', { nullable: true }),
            text('last_status', { nullable: true }),
            text('remote_mta', { nullable: true }),
            integer('reported', { default: 0 }),
            integer('delay_warned', { default: 0 }),
            text('dsn_action', { nullable: true }),
          ],
          { primaryKey: ['message_id', 'idx'] },
        ),
        index('recipients_due', 'recipients', ['state', 'next_attempt']),
      ],
    },
    {
      version: 2,
      name: 'small messages inline, pending recipients in due order (SQLite)',
      steps: [
        // A small message's bytes in its row (one transaction, no file, no directory fsync).
        // queue.sqlite only: PostgreSQL keeps every message as a held blob of the store.
        addColumn('messages', blob('content', { nullable: true, only: 'sqlite' })),
        // due(): the oldest pending recipients without sorting them all (SQLite's planner needs it)
        index('recipients_pending', 'recipients', ['next_attempt', 'message_id', 'idx'], { where: "state IN ('queued', 'deferred')", only: 'sqlite' }),
      ],
    },
  ],
};
