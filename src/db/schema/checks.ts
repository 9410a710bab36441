// The checks' state, one description for both engines (schema.ts): data_dir/checks.sqlite
// (src/checks/db.ts: greylisting, spam thresholds, Junk verdicts; rate limits live in memory and
// DKIM keys in files there) and, with PostgreSQL, the checks_ tables beside the store's
// (src/checks/state/: greylisting, hourly rate-limit counters, DKIM keys, spam thresholds and
// verdicts, so every node sees what the others counted). SQLite got its spam tables in version 1,
// PostgreSQL in version 3; versions 2 and 3 do not exist in SQLite.
import { bigint, index, real, table, text, type Step, type ModuleMigrations } from './schema.js';

const spamTables = (verdictIndex: string): Step[] => [
  table('spam_threshold', [text('address', { primaryKey: true }), real('threshold')], { withoutRowid: true }),
  table('verdicts', [
    bigint('id', { identity: 'always' }),
    text('account'),
    text('blob_id'),
    text('verdict', { check: "verdict IN ('spam', 'ham')" }),
    bigint('at'),
  ]),
  index('verdicts_account', 'verdicts', ['account', verdictIndex]),
];

/** Only in one engine: each step of the list. */
const only = (dialect: 'sqlite' | 'postgresql', steps: Step[]): Step[] =>
  steps.map((s) => {
    if ('createTable' in s) return { createTable: { ...s.createTable, only: dialect } };
    if ('createIndex' in s) return { createIndex: { ...s.createIndex, only: dialect } };
    throw new Error('only(): tables and indexes');
  });

export const CHECKS_MODULE: ModuleMigrations = {
  module: 'checks',
  prefix: { postgresql: 'checks_' },
  // Version 1 of checks.sqlite was counted in PRAGMA user_version before schema_migrations.
  legacyUserVersion: true,
  migrations: [
    {
      version: 1,
      name: 'greylist, rate-limit counters (SQLite: spam thresholds, verdicts)',
      steps: [
        table(
          'greylist',
          [text('net'), text('sender'), text('rcpt'), bigint('first_seen'), bigint('last_seen'), bigint('passed_at', { nullable: true })],
          { primaryKey: ['net', 'sender', 'rcpt'], withoutRowid: true },
        ),
        table('greylist_known', [text('net'), text('sender_domain'), bigint('last_seen')], { primaryKey: ['net', 'sender_domain'], withoutRowid: true }),
        ...only('postgresql', [table('rate', [text('key'), bigint('bucket'), bigint('n')], { primaryKey: ['key', 'bucket'] }), index('rate_bucket', 'rate', ['bucket'])]),
        ...only('sqlite', spamTables('at')),
      ],
    },
    {
      version: 2,
      name: 'dkim keys',
      // One row per selector of a local domain (src/checks/state/dkim.ts); the PEM is the PKCS#8 private key.
      steps: only('postgresql', [
        table(
          'dkim_keys',
          [text('domain'), text('selector'), text('algorithm', { check: "algorithm IN ('rsa-sha256', 'ed25519-sha256')" }), bigint('created'), text('pem')],
          { primaryKey: ['domain', 'selector'] },
        ),
      ]),
    },
    {
      version: 3,
      name: 'spam thresholds, verdicts',
      // As checks.sqlite has them since version 1, for every node (src/checks/state/spam.ts).
      steps: only('postgresql', spamTables('id')),
    },
  ],
};
