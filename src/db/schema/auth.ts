// The authentication throttle's shared failure log (src/auth/shared-throttle.ts), PostgreSQL only:
// with SQLite one process counts failures in memory.
import { bigint, boolean, index, table, text, type ModuleMigrations } from './schema.js';

export const AUTH_MODULE: ModuleMigrations = {
  module: 'auth',
  migrations: [
    {
      version: 1,
      name: 'auth failures',
      steps: [
        table(
          'auth_failures',
          [bigint('id', { identity: 'always' }), text('node'), text('ip'), text('account'), bigint('at'), boolean('account_cleared', { default: false })],
          { only: 'postgresql' },
        ),
        index('auth_failures_ip', 'auth_failures', ['ip', 'at'], { only: 'postgresql' }),
        index('auth_failures_account', 'auth_failures', ['account', 'at'], { only: 'postgresql' }),
        index('auth_failures_at', 'auth_failures', ['at'], { only: 'postgresql' }),
      ],
    },
  ],
};
