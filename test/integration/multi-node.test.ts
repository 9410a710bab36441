// test: serial
// Several `yubin serve` processes on one PostgreSQL database (issue 17, docs/store.md
// "PostgreSQL"): mail in through either node, read through either, IMAP IDLE on one node sees a
// delivery, a STORE and an expunge made on the others within 1 s, and a node killed with SIGKILL
// under load loses nothing it acknowledged. A throwaway cluster (test/helpers/postgres.ts); each
// node has its own data_dir (TLS certificate, temporary files).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { startYubin, type YubinInstance } from '../helpers/server.js';
import { mailboxMessages, submit, until } from '../helpers/mail.js';
import { postgresUnavailable, startCluster, type Cluster } from '../helpers/postgres.js';

const ALICE = 'alice@a.test';
const BOB = 'bob@a.test';
const PASS = 'correct horse battery';

function message(subject: string): string {
  return `From: <${ALICE}>\r\nTo: <${BOB}>\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@a.test>\r\n\r\n${subject} body\r\n`;
}

function imap(node: YubinInstance, user = BOB): ImapFlow {
  return new ImapFlow({ host: node.host('imap'), port: node.port('imap'), secure: false, auth: { user, pass: PASS }, logger: false, tls: { rejectUnauthorized: false } });
}

/** Resolves with the first event of that name, or rejects after ms. */
function nextEvent<T>(c: ImapFlow, name: string, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${name} within ${ms} ms`)), ms);
    c.once(name, (d: T) => {
      clearTimeout(timer);
      resolve(d);
    });
  });
}

const cluster: Cluster | null = await startCluster();

if (!cluster) {
  it('several nodes on one PostgreSQL', { skip: postgresUnavailable }, () => undefined);
} else {
  describe('three yubin serve nodes on one PostgreSQL database', () => {
    const nodes: YubinInstance[] = [];
    let url = '';
    const storeConfig = () => ({ store: { backend: 'postgresql', url, pool_size: 5 }, auth: { allow_plaintext: true } });

    before(async () => {
      url = await cluster.createDatabase('multinode');
      // node A creates the domain and the accounts through the CLI; B and C find them in the database
      nodes.push(await startYubin({ hostname: 'a.mail.test', config: storeConfig(), domains: ['a.test'], users: [{ address: ALICE, password: PASS }, { address: BOB, password: PASS }] }));
      nodes.push(...(await Promise.all([startYubin({ hostname: 'b.mail.test', config: storeConfig() }), startYubin({ hostname: 'c.mail.test', config: storeConfig() })])));
    });
    after(async () => {
      await Promise.all(nodes.map((n) => n.destroy()));
      await cluster.stop();
    });

    it('mail submitted through node A is read through node B, and through node B read on node C', async () => {
      const [a, b, c] = nodes as [YubinInstance, YubinInstance, YubinInstance];
      await submit(a, ALICE, PASS, { envelope: { from: ALICE, to: [BOB] }, raw: message('through A') });
      await until('the message from node A on node B', async () => (await mailboxMessages(b, BOB, PASS)).some((m) => m.includes('Subject: through A')));
      await submit(b, ALICE, PASS, { envelope: { from: ALICE, to: [BOB] }, raw: message('through B') });
      const onC = await until('the message from node B on node C', async () => {
        const all = await mailboxMessages(c, BOB, PASS);
        return all.some((m) => m.includes('Subject: through B')) && all;
      });
      assert.equal(onC.filter((m) => m.includes('Subject: through ')).length, 2, 'each message once');
    });

    it('IDLE on node B sees an APPEND on node A, a STORE on node C and an expunge on node C, each within 1 s', async () => {
      const [a, b, c] = nodes as [YubinInstance, YubinInstance, YubinInstance];
      const watcher = imap(b);
      const onA = imap(a);
      const onC = imap(c);
      await Promise.all([watcher.connect(), onA.connect(), onC.connect()]);
      try {
        await watcher.mailboxOpen('INBOX');
        const before = watcher.mailbox && typeof watcher.mailbox === 'object' ? watcher.mailbox.exists : 0;
        const idling = watcher.idle();

        const exists = nextEvent<{ count: number }>(watcher, 'exists', 1000);
        const appended = await onA.append('INBOX', message('appended on A'));
        assert.ok(appended && appended.uid, 'APPEND on node A');
        assert.equal((await exists).count, before + 1, 'node B pushed the new message');

        const flags = nextEvent<{ uid?: number; flags: Set<string> }>(watcher, 'flags', 1000);
        await onC.mailboxOpen('INBOX');
        await onC.messageFlagsAdd(String(appended.uid), ['\\Flagged'], { uid: true });
        assert.ok((await flags).flags.has('\\Flagged'), 'node B pushed the flag change');

        const expunge = nextEvent<{ seq: number }>(watcher, 'expunge', 1000);
        await onC.messageDelete(String(appended.uid), { uid: true });
        assert.equal((await expunge).seq, before + 1, 'node B pushed the expunge');
        await watcher.noop();
        await idling;
      } finally {
        await Promise.all([watcher.logout(), onA.logout(), onC.logout()]);
      }
    });

    it('node A killed with SIGKILL under load: every message it acknowledged arrives (read through node B)', async () => {
      const [a, b] = nodes as [YubinInstance, YubinInstance];
      const t = nodemailer.createTransport({ host: a.host('submission'), port: a.port('submission'), secure: false, requireTLS: true, tls: { rejectUnauthorized: false }, auth: { user: ALICE, pass: PASS }, pool: true, maxConnections: 8 });
      const acked: string[] = [];
      let killed = false;
      const sends = Array.from({ length: 60 }, (_, i) =>
        t.sendMail({ envelope: { from: ALICE, to: [BOB] }, raw: message(`load ${i}`) }).then(
          () => {
            acked.push(`load ${i}`);
            if (acked.length === 15 && !killed) {
              killed = true;
              void a.kill();
            }
          },
          () => undefined, // cut off by the kill: not acknowledged
        ),
      );
      await Promise.all(sends);
      t.close();
      assert.ok(killed, 'the node was killed under load');
      assert.ok(acked.length >= 15);
      // What node A acknowledged is in the database (local deliveries) or in the shared queue (taken
      // over by another node after [queue] lease, default 2 min, see multi-node-queue.test.ts);
      // restarting A gets any queued ones delivered at once. Every node reads them.
      nodes[0] = await a.restart();
      const got = await until('every acknowledged message on node B', async () => {
        const subjects = (await mailboxMessages(b, BOB, PASS)).map((m) => /Subject: (.*)\r\n/.exec(m)?.[1] ?? '');
        return acked.every((s) => subjects.includes(s)) && subjects;
      }, 60_000);
      for (const s of acked) assert.equal(got.filter((x) => x === s).length, 1, `${s} exactly once`);
    });
  });
}
