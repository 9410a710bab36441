// `yubin api-token create|list|revoke NAME`: bearer tokens of the admin API (docs/api.md). A new
// token is printed once; the store keeps only its SHA-256 (src/admin/tokens.ts). Revoking takes
// effect at the next API call, also while the server runs.
import type { Command } from 'commander';
import { action, configOf, say, withStore } from './common.js';
import { createToken, listTokens, revokeToken } from '../admin/tokens.js';

const when = (d: Date | null) => (d ? d.toISOString().replace(/\.\d{3}Z$/, 'Z') : 'never');

export function register(program: Command): void {
  const token = program.command('api-token').description('bearer tokens of the admin API (/api/v1 on the admin listener)');
  token
    .command('create <name>')
    .description('make a token and print it (once: only its hash is kept)')
    .action(
      action(async (name: string, _o: unknown, cmd: Command) => {
        const t = await withStore(configOf(cmd), (store) => createToken(store, { name }));
        say(t.token);
        process.stderr.write(`API token ${t.name} created; it is shown only now. Use it as: Authorization: Bearer <token>\n`);
      }),
    );
  token
    .command('list')
    .description('list tokens: name, created, last used')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const tokens = await withStore(configOf(cmd), (store) => listTokens(store));
        if (!tokens.length) return say('no API tokens');
        for (const t of tokens) say(`${t.name}\tcreated ${when(t.createdAt)}\tlast used ${when(t.lastUsedAt)}`);
      }),
    );
  token
    .command('revoke <name>')
    .description('revoke a token: calls made with it are refused from now on')
    .action(
      action(async (name: string, _o: unknown, cmd: Command) => {
        const r = await withStore(configOf(cmd), (store) => revokeToken(store, { name }));
        say(`API token ${r.name} revoked`);
      }),
    );
}
