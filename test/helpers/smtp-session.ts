// Shared setup of the SMTP session transcripts (src/smtp/server/{session,data,rcpt,dsn}.test.ts):
// a session on a pipe, the a.test accounts and aliases, and one whole transaction.
import assert from 'node:assert/strict';
import { PipeTransport } from './pipe.js';
import type { TestEnv } from './smtp-context.js';
import { cmd } from './smtp-transcript.js';
import type { ListenerName } from '../../src/config/schema.js';

export async function open(env: TestEnv, listener: ListenerName = 'smtp', opts: { tls?: boolean } = {}): Promise<PipeTransport> {
  const t = new PipeTransport(listener, opts);
  t.attach(env.factory);
  const greeting = await t.waitFor(/^220 .*\r\n/);
  assert.match(greeting, /^220 mx\.a\.test ESMTP/);
  return t;
}

export async function setup(env: TestEnv): Promise<void> {
  await env.store.addDomain('a.test');
  await env.store.addAccount('alice@a.test', 'x');
  await env.store.addAccount('bob@a.test', 'x');
  await env.store.addAccount('full@a.test', 'x');
  await env.store.addAlias('sales@a.test', ['alice@a.test', 'bob@a.test']);
  await env.store.addAlias('fwd@a.test', ['carol@remote.test', 'alice@a.test']);
  await env.store.addAlias('postmaster@a.test', ['alice@a.test']);
}

export const MSG = 'From: x@b.test\r\nTo: alice@a.test\r\nSubject: hi\r\n\r\nHello\r\n..dot line\r\n';

export async function send(t: PipeTransport, from: string, rcpts: string[], body = MSG): Promise<string> {
  assert.match(await cmd(t, `MAIL FROM:<${from}>`), /^250 2\.1\.0/);
  for (const r of rcpts) assert.match(await cmd(t, `RCPT TO:<${r}>`), /^250 2\.1\.5/, r);
  assert.match(await cmd(t, 'DATA'), /^354 /);
  return cmd(t, body + '.');
}
