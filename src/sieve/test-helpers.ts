// Helpers for the Sieve tests: an environment, a message, and "compile, run, format".
import assert from 'node:assert/strict';
import { compileSieve, formatAction, runSieve, type SieveEnv, type SieveLimits, type SieveResult } from './index.js';

export const MSG = [
  'Return-Path: <coyote@desert.example.org>',
  'Date: Tue, 1 Apr 2025 10:00:00 +0200',
  'From: Wile E. Coyote <coyote@desert.example.org>',
  'Sender: owner-ietf-mta-filters@imc.org',
  'To: Ken <ken+sieve@example.org>, me@example.com',
  'Subject: I have a present for you',
  'Message-ID: <present@desert.example.org>',
  'X-Caffeine: C8H10N4O2',
  '',
  'Look, I\'m sorry about the whole anvil thing, and I really',
  'didn\'t mean to try and drop it on you from the top of the',
  'cliff.  I want to try to make it up to you.',
  '',
].join('\r\n');

export function testEnv(over: Partial<SieveEnv> = {}): SieveEnv {
  return {
    user: 'ken@example.org',
    userAddresses: [],
    spam: null,
    virus: null,
    separator: '+',
    mailboxExists: async (name) => ['inbox', 'lists', 'work'].includes(name.toLowerCase()),
    loadInclude: async () => null,
    duplicate: async () => false,
    environment: { domain: 'example.org', host: 'mx.example.org' },
    now: new Date('2025-04-01T12:00:00Z'),
    ...over,
  };
}

export interface RunOpts {
  msg?: string | Buffer;
  from?: string;
  to?: string;
  env?: Partial<SieveEnv>;
  limits?: Partial<SieveLimits>;
}

export async function run(script: string, o: RunOpts = {}): Promise<SieveResult> {
  const c = compileSieve(script, { limits: o.limits });
  if (!c.ok) assert.fail(`compile failed: ${c.errors.map((e) => `${e.line}:${e.column}: ${e.message}`).join('; ')}`);
  const raw = Buffer.isBuffer(o.msg) ? o.msg : Buffer.from(o.msg ?? MSG);
  return runSieve(c.script, { raw, envelope: { from: o.from ?? 'coyote@desert.example.org', to: o.to ?? 'ken+sieve@example.org' } }, testEnv(o.env), { limits: o.limits });
}

/** The formatted actions of a run that must have no errors. */
export async function actions(script: string, o: RunOpts = {}): Promise<string[]> {
  const r = await run(script, o);
  assert.deepEqual(r.errors, [], 'run-time errors');
  return r.actions.map(formatAction);
}

export function compileErrors(script: string, limits?: Partial<SieveLimits>): string[] {
  const c = compileSieve(script, { limits });
  return c.ok ? [] : c.errors.map((e) => `${e.line}:${e.column}: ${e.message}`);
}
