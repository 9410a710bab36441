// The metrics module without a server: sessions counted by protocol state at scrape time, the
// store latency histogram through timeStore(), and the worker pool's counters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics, sessionState } from './metrics.js';
import { countSessions, timeStore } from './instrument.js';
import type { Session, Transport } from '../net/transport.js';
import type { Store } from '../store/types.js';
import { checkExposition, promtoolCheck } from '../../test/helpers/prometheus.js';

async function scrape(m: ReturnType<typeof createMetrics>): Promise<string> {
  const { body } = await m.render();
  assert.deepEqual(checkExposition(body), []);
  const promtool = promtoolCheck(body);
  if (promtool) assert.ok(promtool.ok, promtool.output);
  return body;
}

test('session states: each protocol state word maps to its metric state', () => {
  assert.equal(sessionState('smtp', 'init'), 'idle');
  assert.equal(sessionState('submission', 'ready'), 'idle');
  for (const w of ['mail', 'rcpt', 'bdat']) assert.equal(sessionState('submissions', w), 'transaction');
  for (const w of ['notauth', 'auth', 'selected', 'logout']) assert.equal(sessionState('imaps', w), w);
  for (const w of ['authorization', 'transaction', 'update']) assert.equal(sessionState('pop3', w), w);
  assert.equal(sessionState('managesieve', 'auth'), 'auth');
  assert.equal(sessionState('imap', 'transaction'), 'other');
  assert.equal(sessionState('pop3', undefined), 'other');
});

test('sessions by state are read at scrape time, every state of the protocol reported, closed sessions gone', async () => {
  const m = createMetrics();
  const fake = (state: string) => {
    const s = { state, start() {}, ingest() {}, closed() {}, shutdown: async () => {} };
    return s;
  };
  const made: Array<ReturnType<typeof fake>> = [];
  const factory = countSessions('imaps', () => {
    const s = fake('notauth');
    made.push(s);
    return s;
  }, m);
  const t = {} as Transport;
  const a: Session = factory(t);
  const b: Session = factory(t);
  let text = await scrape(m);
  assert.match(text, /^yubin_sessions\{listener="imaps",state="notauth"\} 2$/m);
  assert.match(text, /^yubin_sessions\{listener="imaps",state="selected"\} 0$/m);
  assert.doesNotMatch(text, /listener="pop3"/, 'a listener without sessions is not reported');
  made[0]!.state = 'selected';
  text = await scrape(m);
  assert.match(text, /^yubin_sessions\{listener="imaps",state="notauth"\} 1$/m);
  assert.match(text, /^yubin_sessions\{listener="imaps",state="selected"\} 1$/m);
  a.closed();
  a.closed(); // once, however often
  b.closed();
  text = await scrape(m);
  assert.match(text, /^yubin_sessions\{listener="imaps",state="notauth"\} 0$/m);
  assert.match(text, /^yubin_sessions\{listener="imaps",state="selected"\} 0$/m);
  assert.match(text, /^yubin_connections\{listener="imaps"\} 0$/m);

  const smtp = countSessions('smtp', () => fake('mail'), m)(t);
  text = await scrape(m);
  assert.match(text, /^yubin_sessions\{listener="smtp",state="transaction"\} 1$/m);
  assert.match(text, /^yubin_sessions\{listener="smtp",state="idle"\} 0$/m);
  smtp.closed();
});

class FakeStore {
  calls = 0;
  readonly blobs = { marker: 'blobs' };
  async listDomains(): Promise<string[]> {
    this.calls++;
    return ['example.test'];
  }
  async getAccount(address: string): Promise<null> {
    this.calls++;
    throw new Error(`no ${address}`);
  }
}

test('timeStore: every store method is timed by name; results, errors, `this`, other properties and instanceof are the store\'s', async () => {
  const m = createMetrics();
  const real = new FakeStore();
  const store = timeStore(real as unknown as Store, m) as unknown as FakeStore;
  assert.ok(store instanceof FakeStore);
  assert.equal(store.blobs, real.blobs);
  assert.deepEqual(await store.listDomains(), ['example.test']);
  assert.deepEqual(await store.listDomains(), ['example.test']);
  await assert.rejects(store.getAccount('x@example.test'), /no x@example\.test/);
  assert.equal(real.calls, 3, 'the methods ran on the store itself');
  const text = await scrape(m);
  assert.match(text, /^# TYPE yubin_store_operation_duration_seconds histogram$/m);
  assert.match(text, /^yubin_store_operation_duration_seconds_count\{op="listDomains"\} 2$/m);
  assert.match(text, /^yubin_store_operation_duration_seconds_count\{op="getAccount"\} 1$/m);
  assert.match(text, /^yubin_store_operation_duration_seconds_bucket\{le="\+Inf",op="listDomains"\} 2$/m);
});

test('the worker pool\'s counters are read at scrape time', async () => {
  const m = createMetrics();
  let stats = { threads: 2, alive: 2, busy: 1, queued: 3, completed: 10, failed: 1, timedOut: 2, refused: 4 };
  m.setSources({ workers: () => stats });
  let text = await scrape(m);
  assert.match(text, /^yubin_worker_threads 2$/m);
  assert.match(text, /^yubin_worker_threads_busy 1$/m);
  assert.match(text, /^yubin_worker_jobs_queued 3$/m);
  assert.match(text, /^yubin_worker_jobs_total\{outcome="completed"\} 10$/m);
  assert.match(text, /^yubin_worker_jobs_total\{outcome="timeout"\} 2$/m);
  assert.match(text, /^yubin_worker_jobs_total\{outcome="refused"\} 4$/m);
  stats = { ...stats, busy: 0, completed: 12 };
  text = await scrape(m);
  assert.match(text, /^yubin_worker_jobs_total\{outcome="completed"\} 12$/m, 'not added up twice');
  assert.match(text, /^yubin_worker_threads_busy 0$/m);
});
