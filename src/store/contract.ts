// The store contract (DESIGN.md "Store"): ONE suite that every Store backend must pass.
// A backend's test file calls it:
//
//   runStoreContract('sqlite', (dir) => openStore(dir), { openModule: { url, exportName: 'openStore' } });
//
// `open(dir)` opens (creating) a store whose local state lives in `dir`; opening the same dir
// again must show the same data (restart). `openModule` names a module and export with the same
// signature, for the crash test, which runs a writer in a child process and kills it with SIGKILL.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MAILBOXES, StoreError, type ChangeEvent, type StagedBlob, type Store, type StoreErrorCode } from './types.js';
import { parseFlags } from './validate.js';

export interface StoreContractOptions {
  /** A module exporting a function with open's signature, for the child process of the crash test. */
  openModule?: { url: string; exportName: string };
}

/** A small RFC 5322 message; `fill` pads the body to about that many octets. */
export function testMessage(subject: string, fill = 0): Buffer {
  const head = `From: Alice <alice@a.test>\r\nTo: bob@a.test\r\nSubject: ${subject}\r\nMessage-ID: <${randomBytes(8).toString('hex')}@a.test>\r\n\r\n`;
  let body = 'Hello.\r\n';
  if (fill > head.length + body.length) {
    const line = 'x'.repeat(76) + '\r\n';
    const n = Math.floor((fill - head.length) / line.length);
    body = line.repeat(n) + body;
  }
  return Buffer.from(head + body);
}

async function rejectsWith(p: Promise<unknown>, code: StoreErrorCode): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof StoreError, `expected StoreError(${code}), got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

export function runStoreContract(name: string, open: (dir: string) => Promise<Store>, opts: StoreContractOptions = {}): void {
  describe(`store contract: ${name}`, () => {
    const dirs: string[] = [];
    const stores: Store[] = [];
    async function fresh(): Promise<{ store: Store; dir: string }> {
      const dir = await mkdtemp(join(tmpdir(), 'yubin-store-'));
      dirs.push(dir);
      const store = await open(dir);
      stores.push(store);
      return { store, dir };
    }
    async function stage(store: Store, bytes: Buffer): Promise<StagedBlob> {
      return store.blobs.stage(bytes);
    }
    async function withAccount(store: Store, address = 'bob@a.test', quota = 0): Promise<number> {
      if (!(await store.isLocalDomain(address.split('@')[1]!))) await store.addDomain(address.split('@')[1]!);
      return (await store.addAccount(address, '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', quota)).id;
    }
    async function inbox(store: Store, accountId: number): Promise<number> {
      return (await store.getMailbox(accountId, 'INBOX'))!.id;
    }
    async function assertConsistent(store: Store): Promise<void> {
      assert.ok(store.verify, 'the backend implements verify()');
      const v = await store.verify();
      assert.deepEqual(v.problems, []);
    }

    after(async () => {
      for (const s of stores) await s.close().catch(() => undefined);
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    });

    describe('domains and accounts', () => {
      let store: Store;
      before(async () => {
        store = (await fresh()).store;
      });

      it('adds, lists and refuses duplicate or malformed domains', async () => {
        const d = await store.addDomain('Example.TEST');
        assert.equal(d.name, 'example.test');
        await rejectsWith(store.addDomain('example.test'), 'exists');
        await rejectsWith(store.addDomain('bad domain'), 'invalid');
        await rejectsWith(store.addDomain('-x.test'), 'invalid');
        assert.deepEqual((await store.listDomains()).map((x) => x.name), ['example.test']);
        assert.equal(await store.isLocalDomain('EXAMPLE.test'), true);
        assert.equal(await store.isLocalDomain('other.test'), false);
      });

      it('creates an account with the default mailboxes, lower case', async () => {
        const acc = await store.addAccount('Carol@Example.Test', 'hash1', 1000);
        assert.equal(acc.address, 'carol@example.test');
        assert.equal(acc.domain, 'example.test');
        assert.equal(acc.quota, 1000);
        assert.equal(acc.usage, 0);
        const boxes = await store.listMailboxes(acc.id);
        assert.deepEqual(boxes.map((b) => b.name).sort(), DEFAULT_MAILBOXES.map((m) => m.name).sort());
        for (const m of DEFAULT_MAILBOXES) assert.equal(boxes.find((b) => b.name === m.name)!.specialUse, m.specialUse);
        assert.equal((await store.getAccount('CAROL@example.test'))!.id, acc.id);
        assert.equal((await store.getAccountById(acc.id))!.address, acc.address);
        await rejectsWith(store.addAccount('carol@example.test', 'h'), 'exists');
        await rejectsWith(store.addAccount('dave@unknown.test', 'h'), 'not-found');
        await rejectsWith(store.addAccount('no-at-sign', 'h'), 'invalid');
        await rejectsWith(store.addAccount('a b@example.test', 'h'), 'invalid');
        await rejectsWith(store.addAccount('x@example.test', 'h', -1), 'invalid');
      });

      it('changes password and quota; lists per domain; refuses to remove a domain in use', async () => {
        await store.setPassword('carol@example.test', 'hash2');
        await store.setQuota('carol@example.test', 0);
        const acc = (await store.getAccount('carol@example.test'))!;
        assert.equal(acc.passwordHash, 'hash2');
        assert.equal(acc.quota, 0);
        await rejectsWith(store.setQuota('nobody@example.test', 5), 'not-found');
        await store.addDomain('other.test');
        await store.addAccount('zed@other.test', 'h');
        assert.deepEqual((await store.listAccounts('example.test')).map((a) => a.address), ['carol@example.test']);
        assert.equal((await store.listAccounts()).length, 2);
        await rejectsWith(store.removeDomain('example.test'), 'not-empty');
        await store.removeAccount('zed@other.test');
        assert.equal(await store.getAccount('zed@other.test'), null);
        await store.removeDomain('other.test');
        assert.equal(await store.isLocalDomain('other.test'), false);
      });
    });

    describe('aliases and recipients', () => {
      let store: Store;
      let bob: number;
      let carol: number;
      before(async () => {
        store = (await fresh()).store;
        bob = await withAccount(store, 'bob@a.test');
        carol = await withAccount(store, 'carol@a.test');
      });

      it('expands aliases recursively, de-duplicated, with remote targets', async () => {
        await store.addAlias('team@a.test', ['bob@a.test', 'carol@a.test', 'friend@remote.test']);
        await store.addAlias('all@a.test', ['team@a.test', 'Bob@A.test']);
        const r = (await store.resolveRecipient('ALL@a.test'))!;
        assert.deepEqual(r.accounts.map((a) => a.id).sort(), [bob, carol].sort());
        assert.deepEqual(r.remote, ['friend@remote.test']);
        assert.deepEqual((await store.resolveRecipient('bob@a.test'))!.accounts.map((a) => a.id), [bob]);
        assert.equal(await store.resolveRecipient('nobody@a.test'), null);
        assert.equal(await store.resolveRecipient('bob@remote.test'), null);
        const list = await store.listAliases('a.test');
        assert.deepEqual(list.find((a) => a.address === 'all@a.test')!.targets, ['team@a.test', 'bob@a.test']);
      });

      it('uses the catch-all only when no account or alias matches', async () => {
        await store.addAlias('@a.test', ['carol@a.test']);
        assert.deepEqual((await store.resolveRecipient('whoever@a.test'))!.accounts.map((a) => a.id), [carol]);
        assert.deepEqual((await store.resolveRecipient('bob@a.test'))!.accounts.map((a) => a.id), [bob]);
        assert.deepEqual(
          (await store.resolveRecipient('team@a.test'))!.accounts.map((a) => a.id).sort(),
          [bob, carol].sort(),
        );
        assert.ok((await store.sendableAddresses(carol)).includes('team@a.test'));
        assert.ok((await store.sendableAddresses(carol)).includes('carol@a.test'));
        assert.ok(!(await store.sendableAddresses(bob)).includes('@a.test'));
        // An alias to an address that does not exist falls through to the catch-all.
        await store.addAlias('sales@a.test', ['ghost@a.test']);
        assert.deepEqual((await store.resolveRecipient('sales@a.test'))!.accounts.map((a) => a.id), [carol]);
        const sendable = await store.sendableAddresses(carol);
        assert.ok(sendable.includes('sales@a.test') && sendable.includes('@a.test'), sendable.join(' '));
        assert.ok(!(await store.sendableAddresses(bob)).includes('sales@a.test'));
        await store.removeAlias('sales@a.test');
        await store.removeAlias('@a.test');
        assert.equal(await store.resolveRecipient('whoever@a.test'), null);
      });

      it('postmaster@ and abuse@ go to the oldest account unless an account or alias has the address (RFC 5321 §4.5.1)', async () => {
        await store.addDomain('roles.test');
        assert.equal(await store.resolveRecipient('postmaster@roles.test'), null, 'no account yet');
        const first = await withAccount(store, 'zz@roles.test');
        const second = await withAccount(store, 'aa@roles.test');
        await store.addAlias('@roles.test', ['aa@roles.test']);
        for (const a of ['postmaster@roles.test', 'PostMaster@roles.test', 'abuse@roles.test']) {
          assert.deepEqual((await store.resolveRecipient(a))!.accounts.map((x) => x.id), [first], a);
        }
        assert.equal(await store.resolveRecipient('postmaster@remote.test'), null);
        await store.addAlias('webmaster@roles.test', ['postmaster@roles.test']);
        assert.deepEqual((await store.resolveRecipient('webmaster@roles.test'))!.accounts.map((x) => x.id), [first]);
        await store.addAlias('abuse@roles.test', ['aa@roles.test']);
        assert.deepEqual((await store.resolveRecipient('abuse@roles.test'))!.accounts.map((x) => x.id), [second]);
        assert.deepEqual((await store.resolveRecipient('postmaster@roles.test'))!.accounts.map((x) => x.id), [first]);
      });

      it('refuses alias loops, also through the catch-all, and leaves nothing behind', async () => {
        await store.addAlias('x@a.test', ['y@a.test']);
        await rejectsWith(store.addAlias('y@a.test', ['x@a.test']), 'alias-loop');
        await rejectsWith(store.addAlias('self@a.test', ['self@a.test']), 'alias-loop');
        // x@a.test → y@a.test (unknown) → catch-all → x@a.test
        await rejectsWith(store.addAlias('@a.test', ['x@a.test']), 'alias-loop');
        assert.equal((await store.listAliases()).some((a) => a.address === 'y@a.test' || a.address === '@a.test' || a.address === 'self@a.test'), false);
        await rejectsWith(store.addAlias('bob@a.test', ['carol@a.test']), 'exists');
        await rejectsWith(store.addAlias('new@nolocal.test', ['carol@a.test']), 'not-found');
        await rejectsWith(store.addAlias('z@a.test', ['not an address']), 'invalid');
        await rejectsWith(store.addAlias('z@a.test', []), 'invalid');
      });

      it('drops a removed account from alias targets', async () => {
        await store.addAlias('solo@a.test', ['carol@a.test']);
        await store.removeAccount('carol@a.test');
        assert.equal((await store.listAliases()).some((a) => a.address === 'solo@a.test'), false);
        assert.deepEqual((await store.listAliases()).find((a) => a.address === 'team@a.test')!.targets, ['bob@a.test', 'friend@remote.test']);
      });
    });

    describe('mailboxes', () => {
      let store: Store;
      let acc: number;
      before(async () => {
        store = (await fresh()).store;
        acc = await withAccount(store);
      });

      it('creates with parents, finds INBOX in any case, validates names', async () => {
        const m = await store.createMailbox(acc, 'Work/Projects/Yubin');
        assert.equal(m.name, 'Work/Projects/Yubin');
        assert.ok(await store.getMailbox(acc, 'Work'));
        assert.ok(await store.getMailbox(acc, 'Work/Projects'));
        assert.equal((await store.getMailbox(acc, 'inbox'))!.name, 'INBOX');
        await rejectsWith(store.createMailbox(acc, 'work/projects/yubin'.replace('work/projects/yubin', 'Work/Projects/Yubin')), 'exists');
        await rejectsWith(store.createMailbox(acc, 'Inbox'), 'exists');
        for (const bad of ['', '/x', 'a//b', 'a/../b', '..', 'bad\u0001name', 'tab\there']) {
          await rejectsWith(store.createMailbox(acc, bad), 'invalid');
        }
        const u = await store.createMailbox(acc, 'Ünïcødé 日本');
        assert.equal((await store.getMailbox(acc, 'Ünïcødé 日本'))!.id, u.id);
      });

      it('gives a re-created mailbox a new UIDVALIDITY; INBOX cannot be deleted', async () => {
        const a = await store.createMailbox(acc, 'Tmp');
        await store.deleteMailbox(acc, 'Tmp');
        assert.equal(await store.getMailbox(acc, 'Tmp'), null);
        const b = await store.createMailbox(acc, 'Tmp');
        assert.notEqual(a.uidValidity, b.uidValidity);
        await rejectsWith(store.deleteMailbox(acc, 'inbox'), 'forbidden');
        await rejectsWith(store.deleteMailbox(acc, 'Nope'), 'not-found');
      });

      it('renames a mailbox with its children', async () => {
        const before = (await store.getMailbox(acc, 'Work/Projects'))!;
        await store.renameMailbox(acc, 'Work', 'Old/Job');
        assert.equal(await store.getMailbox(acc, 'Work'), null);
        assert.equal(await store.getMailbox(acc, 'Work/Projects/Yubin'), null);
        const moved = (await store.getMailbox(acc, 'Old/Job/Projects'))!;
        assert.equal(moved.id, before.id);
        assert.equal(moved.uidValidity, before.uidValidity);
        assert.ok(await store.getMailbox(acc, 'Old/Job/Projects/Yubin'));
        assert.ok(await store.getMailbox(acc, 'Old'));
        await rejectsWith(store.renameMailbox(acc, 'Old/Job', 'Old/Job/Inner'), 'invalid');
        await rejectsWith(store.renameMailbox(acc, 'Old/Job', 'Tmp'), 'exists');
        await rejectsWith(store.renameMailbox(acc, 'Missing', 'X'), 'not-found');
      });

      it('renaming INBOX moves its messages into a new mailbox and leaves INBOX empty', async () => {
        const inboxId = await inbox(store, acc);
        const blob = await stage(store, testMessage('one'));
        await store.deliver(blob, [{ accountId: acc }, { accountId: acc }]);
        await store.updateFlags(inboxId, [1], { mode: 'add', flags: ['\\Seen', 'work'] });
        await store.renameMailbox(acc, 'INBOX', 'Old Mail');
        const oldMail = (await store.getMailbox(acc, 'Old Mail'))!;
        assert.notEqual(oldMail.id, inboxId);
        const moved = await store.listMessages(oldMail.id);
        assert.equal(moved.length, 2);
        assert.deepEqual(moved[0]!.flags, ['\\Seen', 'work']);
        assert.equal((await store.listMessages(inboxId)).length, 0);
        const st = await store.mailboxStatus(inboxId);
        assert.equal(st.messages, 0);
        assert.equal(st.uidNext, 3);
        const again = await store.deliver(blob, [{ accountId: acc }]);
        assert.deepEqual(again[0], { ok: true, accountId: acc, mailboxId: inboxId, uid: 3 });
        await store.blobs.discard(blob);
        await assertConsistent(store);
      });

      it('subscribes and unsubscribes', async () => {
        await store.setSubscribed(acc, 'Tmp', true);
        assert.equal((await store.getMailbox(acc, 'Tmp'))!.subscribed, true);
        await store.setSubscribed(acc, 'Tmp', false);
        assert.equal((await store.getMailbox(acc, 'Tmp'))!.subscribed, false);
        await rejectsWith(store.setSubscribed(acc, 'Nope', true), 'not-found');
      });

      it('keeps the subscription of a deleted mailbox until it is unsubscribed (RFC 9051 §6.3.7)', async () => {
        await store.createMailbox(acc, 'Gone/Kid');
        await store.createMailbox(acc, 'Unsubscribed');
        await store.setSubscribed(acc, 'Gone/Kid', true);
        assert.deepEqual(await store.listLostSubscriptions(acc), []);
        await store.deleteMailbox(acc, 'Gone/Kid');
        await store.deleteMailbox(acc, 'Unsubscribed');
        assert.deepEqual(await store.listLostSubscriptions(acc), ['Gone/Kid']);
        // Still subscribed when the name is created again (the IMAP layer lists the name as subscribed).
        await store.createMailbox(acc, 'Gone/Kid');
        assert.deepEqual(await store.listLostSubscriptions(acc), ['Gone/Kid']);
        await store.deleteMailbox(acc, 'Gone/Kid');
        // Unsubscribing a name without a mailbox is allowed and forgets it; subscribing one is not.
        await store.setSubscribed(acc, 'Gone/Kid', false);
        assert.deepEqual(await store.listLostSubscriptions(acc), []);
        await store.setSubscribed(acc, 'Never/Existed', false);
        await rejectsWith(store.setSubscribed(acc, 'Gone/Kid', true), 'not-found');
        // Per account.
        const other = (await store.addAccount('lost-subs@' + (await store.listDomains())[0]!.name, 'x')).id;
        await store.createMailbox(other, 'Gone');
        await store.setSubscribed(other, 'Gone', true);
        await store.deleteMailbox(other, 'Gone');
        assert.deepEqual(await store.listLostSubscriptions(other), ['Gone']);
        assert.deepEqual(await store.listLostSubscriptions(acc), []);
      });
    });

    describe('messages', () => {
      let store: Store;
      let acc: number;
      let box: number;
      before(async () => {
        store = (await fresh()).store;
        acc = await withAccount(store);
        box = await inbox(store, acc);
      });

      it('streams a message in pieces, keeps its structure, reads ranges', async () => {
        const bytes = testMessage('streamed', 200_000);
        const w = store.blobs.createWriter();
        for (let i = 0; i < bytes.length; i += 1000) await w.write(bytes.subarray(i, i + 1000));
        assert.equal(w.size, bytes.length);
        const staged = await w.finish();
        assert.equal(staged.size, bytes.length);
        assert.equal(staged.structure.envelope.subject, 'streamed');
        const r = await store.appendMessage(acc, 'Drafts', staged, { flags: ['\\Draft', '\\Recent'], internalDate: new Date('2020-01-02T03:04:05Z') });
        await store.blobs.discard(staged);
        const drafts = (await store.getMailbox(acc, 'Drafts'))!;
        assert.equal(r.mailboxId, drafts.id);
        assert.equal(r.uidValidity, drafts.uidValidity);
        const [meta] = await store.getMessages(drafts.id, [r.uid]);
        assert.deepEqual(meta!.flags, ['\\Draft']);
        assert.equal(meta!.internalDate.toISOString(), '2020-01-02T03:04:05.000Z');
        assert.equal(meta!.size, bytes.length);
        assert.equal((await store.getStructure(drafts.id, r.uid))!.envelope.subject, 'streamed');
        assert.deepEqual(await store.blobs.read(meta!.blobId), bytes);
        assert.deepEqual(await store.blobs.read(meta!.blobId, { start: 10, end: 30 }), bytes.subarray(10, 30));
        // readMany: ranges of several blobs in one step, clamped to the blob; null for a blob that does not exist
        const otherBytes = testMessage('another');
        const other = await stage(store, otherBytes);
        const [o] = await store.deliver(other, [{ accountId: acc }]);
        await store.blobs.discard(other);
        assert.ok(o?.ok);
        const [om] = await store.getMessages(o.mailboxId, [o.uid]);
        const many = await store.blobs.readMany([
          { blobId: meta!.blobId, start: 0, end: 40 },
          { blobId: 'f'.repeat(64), start: 0, end: 10 },
          { blobId: om!.blobId, start: 5, end: om!.size + 100 },
          { blobId: meta!.blobId, start: bytes.length - 5, end: bytes.length + 5 },
        ]);
        assert.deepEqual(many[0], bytes.subarray(0, 40));
        assert.equal(many[1], null);
        assert.deepEqual(many[2], otherBytes.subarray(5));
        assert.deepEqual(many[3], bytes.subarray(bytes.length - 5));
        assert.deepEqual(await store.blobs.readMany([]), []);
        const chunks: Buffer[] = [];
        for await (const c of store.blobs.open(meta!.blobId, { start: 100, end: 150_000 })) chunks.push(c as Buffer);
        assert.deepEqual(Buffer.concat(chunks), bytes.subarray(100, 150_000));
        await rejectsWith(store.appendMessage(acc, 'Nope', await stage(store, testMessage('x'))), 'not-found');
      });

      it('stores the same raw bytes once for 3 accounts', async () => {
        const c2 = await withAccount(store, 'c2@a.test');
        const c3 = await withAccount(store, 'c3@a.test');
        const bytes = testMessage('shared');
        const staged = await stage(store, bytes);
        const again = await stage(store, bytes);
        assert.equal(again.id, staged.id);
        const res = await store.deliver(staged, [{ accountId: acc }, { accountId: c2 }, { accountId: c3, mailbox: 'Nope' }]);
        assert.ok(res.every((r) => r.ok));
        await store.deliver(again, [{ accountId: c3 }]);
        await store.blobs.discard(staged);
        await store.blobs.discard(again);
        const ids = new Set<string>();
        for (const r of res) {
          assert.ok(r.ok);
          const [m] = await store.getMessages(r.mailboxId, [r.uid]);
          ids.add(m!.blobId);
        }
        assert.equal(ids.size, 1);
        assert.equal((await store.getAccountById(c3))!.usage, 2 * bytes.length);
        // Removing one account keeps the blob for the others.
        await store.removeAccount('c2@a.test');
        const r0 = res[0]!;
        assert.ok(r0.ok);
        const [m0] = await store.getMessages(r0.mailboxId, [r0.uid]);
        assert.deepEqual(await store.blobs.read(m0!.blobId), bytes);
        await assertConsistent(store);
      });

      it('updates flags with modseq; \\Recent is never stored; UNCHANGEDSINCE', async () => {
        const s = await stage(store, testMessage('flags'));
        const [r1] = await store.deliver(s, [{ accountId: acc, flags: ['$Label1'] }]);
        const [r2] = await store.deliver(s, [{ accountId: acc }]);
        assert.ok(r1!.ok && r2!.ok);
        const before = await store.mailboxStatus(box);
        const res = await store.updateFlags(box, [r1.uid, r2.uid], { mode: 'add', flags: ['\\seen', '\\Recent', 'Work'] });
        assert.equal(res.changed.length, 2);
        assert.deepEqual(res.changed[0]!.flags, ['\\Seen', '$Label1', 'Work']);
        assert.ok(res.changed[0]!.modseq > before.highestModSeq);
        const after1 = await store.mailboxStatus(box);
        assert.equal(after1.highestModSeq, res.changed[0]!.modseq);
        // No change: no new modseq.
        const none = await store.updateFlags(box, [r1.uid], { mode: 'add', flags: ['\\Seen'] });
        assert.deepEqual(none.changed, []);
        assert.equal((await store.mailboxStatus(box)).highestModSeq, after1.highestModSeq);
        // UNCHANGEDSINCE lower than the message's modseq fails.
        const cond = await store.updateFlags(box, [r1.uid], { mode: 'set', flags: ['\\Flagged'], unchangedSince: before.highestModSeq });
        assert.deepEqual(cond.failed, [r1.uid]);
        const set = await store.updateFlags(box, [r1.uid], { mode: 'set', flags: ['\\Flagged'] });
        assert.deepEqual(set.changed[0]!.flags, ['\\Flagged']);
        const rem = await store.updateFlags(box, [r2.uid], { mode: 'remove', flags: ['work', '\\SEEN'] });
        assert.deepEqual(rem.changed[0]!.flags, []);
        await rejectsWith(store.updateFlags(box, [r1.uid], { mode: 'add', flags: ['bad flag'] }), 'invalid');
        await rejectsWith(store.updateFlags(box, [r1.uid], { mode: 'add', flags: ['\\Unknown'] }), 'invalid');
        await store.blobs.discard(s);
      });

      it('expunges (usage drops), copies and moves with UID maps', async () => {
        const b1 = testMessage('e1', 3000);
        const b2 = testMessage('e2', 5000);
        const s1 = await stage(store, b1);
        const s2 = await stage(store, b2);
        const usage0 = (await store.getAccountById(acc))!.usage;
        const [a] = await store.deliver(s1, [{ accountId: acc }]);
        const [b] = await store.deliver(s2, [{ accountId: acc, flags: ['\\Deleted'] }]);
        assert.ok(a!.ok && b!.ok);
        assert.equal((await store.getAccountById(acc))!.usage, usage0 + b1.length + b2.length);
        const st = await store.mailboxStatus(box);
        assert.equal(st.deleted, 1);
        const trash = (await store.getMailbox(acc, 'Trash'))!;
        const copy = await store.copyMessages(box, [b.uid, a.uid, 999_999], trash.id);
        assert.equal(copy.uidValidity, trash.uidValidity);
        assert.deepEqual(copy.map, [
          [a.uid, trash.uidNext],
          [b.uid, trash.uidNext + 1],
        ]);
        assert.equal((await store.getAccountById(acc))!.usage, usage0 + 2 * (b1.length + b2.length));
        const copied = await store.getMessages(trash.id, [trash.uidNext + 1]);
        assert.deepEqual(copied[0]!.flags, ['\\Deleted']);
        const removed = await store.expunge(box, [b.uid, 424242]);
        assert.deepEqual(removed, [b.uid]);
        assert.equal((await store.getAccountById(acc))!.usage, usage0 + 2 * b1.length + b2.length);
        const archive = (await store.getMailbox(acc, 'Archive'))!;
        const moved = await store.moveMessages(trash.id, [trash.uidNext, trash.uidNext + 1], archive.id);
        assert.deepEqual(moved.map.map((p) => p[1]), [archive.uidNext, archive.uidNext + 1]);
        assert.equal((await store.listMessages(trash.id)).length, 0);
        assert.equal((await store.listMessages(archive.id)).length, 2);
        assert.equal((await store.getAccountById(acc))!.usage, usage0 + 2 * b1.length + b2.length);
        await store.blobs.discard(s1);
        await store.blobs.discard(s2);
        await assertConsistent(store);
      });

      it('remembers removed UIDs with their modseq (QRESYNC history): expunge and the source of a move', async () => {
        const q = await withAccount(store, 'vanished@a.test');
        const qbox = await inbox(store, q);
        const s = await stage(store, testMessage('v', 100));
        const uids: number[] = [];
        for (let i = 0; i < 5; i++) uids.push((await store.appendMessage(q, 'INBOX', s)).uid);
        const m0 = (await store.mailboxStatus(qbox)).highestModSeq;
        assert.deepEqual(await store.expungedSince(qbox, 0), []);
        await store.expunge(qbox, [uids[1]!, uids[3]!, 999]);
        const m1 = (await store.mailboxStatus(qbox)).highestModSeq;
        assert.ok(m1 > m0);
        const archive = (await store.getMailbox(q, 'Archive'))!;
        await store.moveMessages(qbox, [uids[4]!], archive.id);
        const m2 = (await store.mailboxStatus(qbox)).highestModSeq;
        assert.ok(m2 > m1);
        // RFC 7162 §3.2.5.2: what vanished after a client's modseq, ascending; nothing from other mailboxes
        assert.deepEqual(await store.expungedSince(qbox, m0), [uids[1], uids[3], uids[4]]);
        assert.deepEqual(await store.expungedSince(qbox, m1), [uids[4]]);
        assert.deepEqual(await store.expungedSince(qbox, m2), []);
        assert.deepEqual(await store.expungedSince(archive.id, 0), []);
        // A flag change is not a removal.
        await store.updateFlags(qbox, [uids[0]!], { mode: 'add', flags: ['\\Seen'] });
        assert.deepEqual(await store.expungedSince(qbox, m2), []);
        // The history goes with the mailbox.
        await store.createMailbox(q, 'Gone');
        const gone = (await store.getMailbox(q, 'Gone'))!;
        const g = await store.appendMessage(q, 'Gone', s);
        await store.expunge(gone.id, [g.uid]);
        assert.deepEqual(await store.expungedSince(gone.id, 0), [g.uid]);
        await store.deleteMailbox(q, 'Gone');
        assert.deepEqual(await store.expungedSince(gone.id, 0), []);
        await store.blobs.discard(s);
        await assertConsistent(store);
      });

      it('lists the mailbox index columns as compact rows, paged by UID (listIndexRows)', async () => {
        const q = await withAccount(store, 'rows@a.test');
        const box = await inbox(store, q);
        const s1 = await stage(store, testMessage('r1', 2000));
        const r = await store.appendMessages(q, 'INBOX', [
          { blob: s1, flags: ['\\Seen', 'Work'], internalDate: new Date('2021-05-06T07:08:09Z') },
          { blob: s1 },
          { blob: s1, flags: ['\\Deleted', '\\Flagged'] },
          { blob: s1, flags: ['$Label1', 'Work'] },
        ]);
        await store.blobs.discard(s1);
        await store.updateFlags(box, [r.uids[1]!], { mode: 'add', flags: ['\\Answered'] });
        await store.expunge(box, [r.uids[2]!]);
        const metas = await store.listMessages(box);
        const expected = metas.map((m) => {
          const f = parseFlags(m.flags);
          return [m.uid, f.bits, m.modseq, m.size, m.internalDate.getTime(), f.keywords.length ? JSON.stringify(f.keywords) : null];
        });
        assert.equal(expected.length, 3);
        assert.deepEqual(await store.listIndexRows(box, 0, 100), expected);
        // keyed by UID: the rows after a UID, at most `limit`
        assert.deepEqual(await store.listIndexRows(box, r.uids[0]!, 1), [expected[1]]);
        assert.deepEqual(await store.listIndexRows(box, r.uids[1]!, 100), [expected[2]]);
        assert.deepEqual(await store.listIndexRows(box, r.uids[3]!, 100), []);
        assert.deepEqual(await store.listIndexRows(box, 0, 0), []);
        // another mailbox's messages are not listed
        assert.deepEqual(await store.listIndexRows((await store.getMailbox(q, 'Drafts'))!.id, 0, 100), []);
      });

      it('appends several messages atomically (MULTIAPPEND) and replaces one in the same transaction (REPLACE)', async () => {
        const q = await withAccount(store, 'multi@a.test', 20_000);
        const qbox = await inbox(store, q);
        const s1 = await stage(store, testMessage('m1', 3000));
        const m2 = testMessage('m2', 4000);
        const s2 = await stage(store, m2);
        const big = await stage(store, testMessage('m3', 15_000));
        // RFC 3502 §6.3.11: one message over quota and none is appended.
        await rejectsWith(store.appendMessages(q, 'INBOX', [{ blob: s1 }, { blob: s2 }, { blob: big }]), 'over-quota');
        assert.equal((await store.listMessages(qbox)).length, 0);
        assert.equal((await store.getAccountById(q))!.usage, 0);
        await rejectsWith(store.appendMessages(q, 'Nope', [{ blob: s1 }]), 'not-found');
        const before = (await store.getMailbox(q, 'INBOX'))!;
        const r = await store.appendMessages(q, 'inbox', [{ blob: s1, flags: ['\\Seen'] }, { blob: s2, internalDate: new Date('2021-05-06T07:08:09Z') }, { blob: s1 }]);
        assert.equal(r.mailboxId, qbox);
        assert.equal(r.uidValidity, before.uidValidity);
        assert.deepEqual(r.uids, [before.uidNext, before.uidNext + 1, before.uidNext + 2]);
        const metas = await store.listMessages(qbox);
        assert.deepEqual(metas.map((m) => m.flags), [['\\Seen'], [], []]);
        assert.equal(metas[1]!.internalDate.toISOString(), '2021-05-06T07:08:09.000Z');
        // RFC 8508 §3.3: the replacement and the expunge of the original commit together; the
        // original's size no longer counts against the quota the replacement is charged to.
        const usage = (await store.getAccountById(q))!.usage;
        const bigger = await stage(store, testMessage('m2 v2', 4000 + (20_000 - usage)));
        const drafts = (await store.getMailbox(q, 'Drafts'))!;
        await rejectsWith(store.appendMessages(q, 'Drafts', [{ blob: bigger }], { expunge: { mailboxId: qbox, uids: [r.uids[2]!] } }), 'over-quota');
        assert.equal((await store.listMessages(qbox)).length, 3);
        const small = await stage(store, testMessage('m2 v2', 3500));
        const rep = await store.appendMessages(q, 'Drafts', [{ blob: small }], { expunge: { mailboxId: qbox, uids: [r.uids[1]!] } });
        assert.deepEqual(rep.uids, [drafts.uidNext]);
        assert.deepEqual((await store.listMessages(qbox)).map((m) => m.uid), [r.uids[0], r.uids[2]]);
        // Another account's mailbox is not one to expunge from.
        await rejectsWith(store.appendMessages(acc, 'INBOX', [{ blob: s1 }], { expunge: { mailboxId: qbox, uids: [r.uids[0]!] } }), 'not-found');
        assert.equal((await store.listMessages(qbox)).length, 2);
        // Staged parts can be read back before they are committed (CATENATE joins them).
        const chunks: Buffer[] = [];
        for await (const c of store.blobs.openStaged(s2)) chunks.push(c as Buffer);
        assert.deepEqual(Buffer.concat(chunks), m2);
        for (const s of [s1, s2, big, bigger, small]) await store.blobs.discard(s);
        await assertConsistent(store);
      });

      it('reports per-target delivery failures without failing the others; moves across accounts', async () => {
        const other = await withAccount(store, 'other@a.test', 0);
        const s = await stage(store, testMessage('targets', 1000));
        const res = await store.deliver(s, [{ accountId: acc }, { accountId: 987654 }, { accountId: other, flags: ['bad flag'] }, { accountId: other, flags: ['\\Flagged'] }]);
        assert.equal(res[0]!.ok, true);
        assert.ok(!res[1]!.ok && res[1]!.error === 'not-found');
        assert.ok(!res[2]!.ok && res[2]!.error === 'invalid');
        assert.ok(res[3]!.ok);
        const r3 = res[3]!;
        assert.ok(r3.ok);
        const before = (await store.getAccountById(acc))!.usage;
        const moved = await store.moveMessages(r3.mailboxId, [r3.uid], box);
        assert.equal(moved.map.length, 1);
        assert.equal((await store.getAccountById(other))!.usage, 0);
        assert.equal((await store.getAccountById(acc))!.usage, before + s.size);
        const [m] = await store.getMessages(box, [moved.map[0]![1]]);
        assert.deepEqual(m!.flags, ['\\Flagged']);
        await store.blobs.discard(s);
        assert.equal(await store.getMailbox(acc, 'a//b'), null);
        const special = await store.createMailbox(acc, 'Everything/', { specialUse: '\\All' });
        assert.equal(special.name, 'Everything');
        assert.equal(special.specialUse, '\\All');
        await assertConsistent(store);
      });

      it('pages messages by UID range and limit', async () => {
        const all = await store.listMessages(box);
        assert.ok(all.length >= 3);
        for (let i = 1; i < all.length; i++) assert.ok(all[i]!.uid > all[i - 1]!.uid);
        const page = await store.listMessages(box, { fromUid: all[1]!.uid, limit: 2 });
        assert.deepEqual(page.map((m) => m.uid), [all[1]!.uid, all[2]!.uid]);
        const upTo = await store.listMessages(box, { toUid: all[0]!.uid });
        assert.deepEqual(upTo.map((m) => m.uid), [all[0]!.uid]);
      });

      it('counts status and hands out \\Recent once', async () => {
        const st = await store.mailboxStatus(box);
        const all = await store.listMessages(box);
        assert.equal(st.messages, all.length);
        assert.equal(st.size, all.reduce((n, m) => n + m.size, 0));
        assert.equal(st.unseen, all.filter((m) => !m.flags.includes('\\Seen')).length);
        const mark = await store.claimRecent(box);
        assert.equal(mark, 0);
        assert.equal((await store.mailboxStatus(box)).recent, 0);
        assert.equal(await store.claimRecent(box), st.uidNext - 1);
        const s = await stage(store, testMessage('recent'));
        await store.deliver(s, [{ accountId: acc }]);
        assert.equal((await store.mailboxStatus(box)).recent, 1);
        await store.blobs.discard(s);
      });

      it('handles large sets: copy, flags and expunge over thousands of messages', async () => {
        const big = await withAccount(store, 'big@a.test');
        const bigBox = await inbox(store, big);
        const s = await stage(store, testMessage('big'));
        await store.deliver(s, [{ accountId: big }]);
        await store.blobs.discard(s);
        // Doubling by copying into the same mailbox: 1, 2, 4, ... 4096.
        for (let i = 0; i < 12; i++) {
          const all = (await store.listMessages(bigBox)).map((m) => m.uid);
          const r = await store.copyMessages(bigBox, all, bigBox);
          assert.equal(r.map.length, all.length);
        }
        const all = await store.listMessages(bigBox);
        assert.equal(all.length, 4096);
        assert.equal((await store.getAccountById(big))!.usage, 4096 * s.size);
        const flagged = await store.updateFlags(bigBox, all.map((m) => m.uid), { mode: 'add', flags: ['\\Seen'] });
        assert.equal(flagged.changed.length, 4096);
        assert.equal((await store.mailboxStatus(bigBox)).unseen, 0);
        const removed = await store.expunge(bigBox, all.slice(0, 3000).map((m) => m.uid));
        assert.deepEqual(removed, all.slice(0, 3000).map((m) => m.uid));
        assert.equal((await store.mailboxStatus(bigBox)).messages, 1096);
        assert.equal((await store.getAccountById(big))!.usage, 1096 * s.size);
        await store.removeAccount('big@a.test');
        await assertConsistent(store);
      });

      it('retains and releases blobs held outside mailboxes', async () => {
        const bytes = testMessage('queued');
        const s = await stage(store, bytes);
        const id = await store.blobs.retain(s);
        await store.blobs.discard(s);
        assert.deepEqual(await store.blobs.read(id), bytes);
        await assertConsistent(store);
        await store.blobs.release(id);
        await rejectsWith(store.blobs.release(id), 'not-found');
      });

      it('keeps the save date of every way a message gets into a mailbox (RFC 8514 SAVEDATE)', async () => {
        const dst = (await store.createMailbox(acc, 'Saved/Dst')).id;
        const other = (await store.createMailbox(acc, 'Saved/Other')).id;
        const old = new Date('2001-02-03T04:05:06Z');
        const t0 = Date.now();
        const [d] = await store.deliver(await stage(store, testMessage('delivered')), [{ accountId: acc, mailbox: 'Saved/Dst' }]);
        assert.ok(d!.ok);
        const a = await store.appendMessage(acc, 'Saved/Dst', await stage(store, testMessage('appended')), { internalDate: old });
        const m = await store.appendMessages(acc, 'Saved/Dst', [{ blob: await stage(store, testMessage('multi')), internalDate: old }]);
        const t1 = Date.now();
        const metas = await store.getMessages(dst, [d!.uid, a.uid, m.uids[0]!]);
        assert.equal(metas.length, 3);
        for (const meta of metas) {
          // the save date is now, whatever the internal date says
          assert.ok(meta.savedDate instanceof Date, `savedDate of ${meta.uid}`);
          assert.ok(meta.savedDate.getTime() >= t0 && meta.savedDate.getTime() <= t1, `${meta.savedDate.toISOString()} not in [${t0}, ${t1}]`);
        }
        // a copy and a move are saved into the destination when they are made
        await new Promise((r) => setTimeout(r, 5));
        const t2 = Date.now();
        const copied = await store.copyMessages(dst, [a.uid], other);
        const moved = await store.moveMessages(dst, [m.uids[0]!], other);
        const after = await store.getMessages(other, [copied.map[0]![1], moved.map[0]![1]]);
        assert.equal(after.length, 2);
        for (const meta of after) {
          assert.ok(meta.savedDate && meta.savedDate.getTime() >= t2, `copy/move ${meta.uid} keeps an old save date`);
          assert.equal(meta.internalDate.toISOString(), old.toISOString());
        }
        const listed = await store.listMessages(dst);
        assert.ok(listed.every((x) => x.savedDate instanceof Date));
      });

      it('keeps one preview per blob, the first one set (RFC 8970 PREVIEW)', async () => {
        const s1 = await stage(store, testMessage('preview'));
        const r = await store.appendMessage(acc, 'INBOX', s1);
        const [meta] = await store.getMessages(box, [r.uid]);
        assert.equal((await store.getPreviews([meta!.blobId])).size, 0);
        await store.setPreview(meta!.blobId, 'Hello. Ünïcode');
        await store.setPreview(meta!.blobId, 'a later one');
        assert.deepEqual([...(await store.getPreviews([meta!.blobId, meta!.blobId, 'f'.repeat(64)]))], [[meta!.blobId, 'Hello. Ünïcode']]);
        // a copy shares its blob, so its preview
        const c = await store.copyMessages(box, [r.uid], (await store.getMailbox(acc, 'Archive'))!.id);
        const [copy] = await store.getMessages((await store.getMailbox(acc, 'Archive'))!.id, [c.map[0]![1]]);
        assert.equal((await store.getPreviews([copy!.blobId])).get(copy!.blobId), 'Hello. Ünïcode');
      });
    });

    describe('quota and concurrency', () => {
      it('quota is exact under 50 concurrent deliveries', async () => {
        const { store } = await fresh();
        const size = testMessage('q00', 2000).length;
        const acc = await withAccount(store, 'q@a.test', size * 10);
        const staged = await Promise.all(Array.from({ length: 50 }, (_, i) => stage(store, testMessage(`q${String(i).padStart(2, '0')}`, 2000))));
        assert.ok(staged.every((s) => s.size === size));
        const results = await Promise.all(staged.map((s) => store.deliver(s, [{ accountId: acc }])));
        const ok = results.filter((r) => r[0]!.ok).length;
        assert.equal(ok, 10);
        assert.ok(results.filter((r) => !r[0]!.ok).every((r) => !r[0]!.ok && r[0]!.error === 'over-quota'));
        assert.equal((await store.getAccountById(acc))!.usage, 10 * size);
        await rejectsWith(store.appendMessage(acc, 'INBOX', staged[0]!), 'over-quota');
        const box = await inbox(store, acc);
        await rejectsWith(store.copyMessages(box, [1], (await store.getMailbox(acc, 'Trash'))!.id), 'over-quota');
        for (const s of staged) await store.blobs.discard(s);
        await assertConsistent(store);
      });

      it('delivers and expunges concurrently without losing count', async () => {
        const { store } = await fresh();
        const acc = await withAccount(store);
        const box = await inbox(store, acc);
        const delivered: number[] = [];
        const expunged: number[] = [];
        const tasks: Array<Promise<void>> = [];
        for (let i = 0; i < 40; i++) {
          tasks.push(
            (async () => {
              const s = await stage(store, testMessage(`c${i % 10}`, 500 + (i % 10)));
              const [r] = await store.deliver(s, [{ accountId: acc }]);
              await store.blobs.discard(s);
              assert.ok(r!.ok);
              delivered.push(r.uid);
              if (i % 2 === 0) expunged.push(...(await store.expunge(box, [r.uid])));
            })(),
          );
        }
        await Promise.all(tasks);
        assert.equal(new Set(delivered).size, 40);
        const left = await store.listMessages(box);
        assert.equal(left.length, 20);
        assert.equal((await store.getAccountById(acc))!.usage, left.reduce((n, m) => n + m.size, 0));
        assert.equal((await store.mailboxStatus(box)).uidNext, Math.max(...delivered) + 1);
        await assertConsistent(store);
      });
    });

    describe('durability', () => {
      it('never reuses UIDs, also after expunge and restart', async () => {
        const dir = await mkdtemp(join(tmpdir(), 'yubin-store-'));
        dirs.push(dir);
        let store = await open(dir);
        const acc = await withAccount(store);
        const box = await inbox(store, acc);
        const s = await stage(store, testMessage('uid'));
        await store.deliver(s, [{ accountId: acc }, { accountId: acc }, { accountId: acc }]);
        await store.expunge(box, [2, 3]);
        await store.blobs.discard(s);
        const validity = (await store.getMailboxById(box))!.uidValidity;
        await store.close();
        store = await open(dir);
        stores.push(store);
        const s2 = await stage(store, testMessage('uid2'));
        const [r] = await store.deliver(s2, [{ accountId: acc }]);
        assert.deepEqual(r, { ok: true, accountId: acc, mailboxId: box, uid: 4 });
        assert.equal((await store.getMailboxById(box))!.uidValidity, validity);
        await store.blobs.discard(s2);
        await assertConsistent(store);
      });

      it('publishes changes after commit, in order, per account', async () => {
        const { store } = await fresh();
        const acc = await withAccount(store);
        const other = await withAccount(store, 'other@a.test');
        const box = await inbox(store, acc);
        const events: ChangeEvent[] = [];
        const otherEvents: ChangeEvent[] = [];
        const unsubscribe = store.changes.subscribe(acc, (e) => {
          events.push(e);
        });
        store.changes.subscribe(other, (e) => otherEvents.push(e));
        const s = await stage(store, testMessage('feed'));
        const [r] = await store.deliver(s, [{ accountId: acc }]);
        assert.ok(r!.ok);
        assert.deepEqual(events[0], { type: 'message-added', accountId: acc, mailboxId: box, uid: r.uid, modseq: (await store.listMessages(box))[0]!.modseq });
        await store.updateFlags(box, [r.uid], { mode: 'add', flags: ['\\Seen'] });
        await store.createMailbox(acc, 'F');
        await store.renameMailbox(acc, 'F', 'G');
        await store.setSubscribed(acc, 'G', true);
        await store.expunge(box, [r.uid]);
        await store.deleteMailbox(acc, 'G');
        assert.deepEqual(
          events.map((e) => e.type),
          ['message-added', 'flags-changed', 'mailbox-created', 'mailbox-renamed', 'mailbox-subscription', 'messages-expunged', 'mailbox-deleted'],
        );
        const fc = events[1]!;
        assert.ok(fc.type === 'flags-changed' && fc.changes[0]!.flags.includes('\\Seen'));
        const ex = events[5]!;
        assert.ok(ex.type === 'messages-expunged' && ex.uids[0] === r.uid);
        assert.equal(otherEvents.length, 0);
        // Concurrent deliveries: events in UID order (commit order).
        const many = await Promise.all(Array.from({ length: 10 }, (_, i) => stage(store, testMessage(`m${i}`))));
        events.length = 0;
        await Promise.all(many.map((m) => store.deliver(m, [{ accountId: acc }])));
        const uids = events.filter((e) => e.type === 'message-added').map((e) => (e.type === 'message-added' ? e.uid : 0));
        assert.equal(uids.length, 10);
        assert.deepEqual(uids, [...uids].sort((a, b) => a - b));
        // A listener that throws does not stop the others or the store.
        store.changes.subscribe(acc, () => {
          throw new Error('listener failure');
        });
        unsubscribe();
        const before = events.length;
        await store.deliver(s, [{ accountId: acc }]);
        assert.equal(events.length, before);
        assert.equal((await store.mailboxStatus(box)).messages, 11);
        await store.blobs.discard(s);
        for (const m of many) await store.blobs.discard(m);
      });

      it('copy and move publish messages-copied; observers see every account and are awaited by copy and move', async () => {
        const { store } = await fresh();
        const acc = await withAccount(store);
        const other = await withAccount(store, 'other@a.test');
        const box = await inbox(store, acc);
        const junk = (await store.getMailbox(acc, 'Junk'))!.id;
        const otherBox = await inbox(store, other);
        const s = await stage(store, testMessage('observed'));
        const [r1, r2] = await store.deliver(s, [{ accountId: acc }, { accountId: other }]);
        assert.ok(r1!.ok && r2!.ok);
        const seen: ChangeEvent[] = [];
        const done: string[] = [];
        const stop = store.changes.observe(async (e) => {
          seen.push(e);
          if (e.type !== 'messages-copied') return;
          // An observer that needs a turn of the event loop (I/O) is still waited for.
          await new Promise<void>((res) => setImmediate(res));
          done.push(`${e.moved ? 'move' : 'copy'} ${e.srcMailboxId}>${e.dstMailboxId}`);
        });
        const failing = store.changes.observe(async () => {
          throw new Error('observer failure');
        });
        const copied = await store.copyMessages(box, [r1.uid], junk);
        assert.deepEqual(done, [`copy ${box}>${junk}`], 'copyMessages resolved before its observer finished');
        const moved = await store.moveMessages(junk, [copied.map[0]![1]], box);
        assert.deepEqual(done, [`copy ${box}>${junk}`, `move ${junk}>${box}`], 'moveMessages resolved before its observer finished');
        const copies = seen.filter((e) => e.type === 'messages-copied');
        assert.deepEqual(copies, [
          { type: 'messages-copied', accountId: acc, srcMailboxId: box, dstMailboxId: junk, uids: copied.map, moved: false },
          { type: 'messages-copied', accountId: acc, srcMailboxId: junk, dstMailboxId: box, uids: moved.map, moved: true },
        ]);
        // A move's copies are announced before its source's expunge.
        const types = seen.map((e) => e.type);
        assert.ok(types.lastIndexOf('messages-copied') < types.lastIndexOf('messages-expunged'));
        // Every account is observed (not only one subscribed to).
        await store.updateFlags(otherBox, [r2.uid], { mode: 'add', flags: ['\\Seen'] });
        assert.ok(seen.some((e) => e.type === 'flags-changed' && e.accountId === other));
        // Nothing copied, nothing announced; after unsubscribing, nothing observed.
        await store.copyMessages(box, [999_999], junk);
        assert.equal(seen.filter((e) => e.type === 'messages-copied').length, 2);
        stop();
        failing();
        const n = seen.length;
        await store.copyMessages(box, [moved.map[0]![1]], junk);
        assert.equal(seen.length, n);
        await store.blobs.discard(s);
        await assertConsistent(store);
      });

      it('a writer killed with SIGKILL mid-delivery leaves a consistent store', { skip: opts.openModule ? false : 'no openModule given' }, async () => {
        const dir = await mkdtemp(join(tmpdir(), 'yubin-store-'));
        dirs.push(dir);
        let store = await open(dir);
        const acc = await withAccount(store);
        await store.close();
        const writer = fileURLToPath(new URL('./contract-writer.ts', import.meta.url));
        const child = spawn(process.execPath, ['--import', 'tsx', writer, opts.openModule!.url, opts.openModule!.exportName, dir, String(acc)], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const acked = new Map<string, string>();
        const expStarted = new Set<string>();
        const expDone = new Set<string>();
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        let buf = '';
        const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
        await new Promise<void>((resolve, reject) => {
          child.on('exit', () => reject(new Error(`writer exited early: ${stderr}`)));
          child.stdout.on('data', (d: Buffer) => {
            buf += d.toString();
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const [kind, mb, uid, blob] = buf.slice(0, nl).split(' ');
              buf = buf.slice(nl + 1);
              const key = `${mb}/${uid}`;
              if (kind === 'ACK') acked.set(key, blob!);
              else if (kind === 'EXPSTART') expStarted.add(key);
              else if (kind === 'EXP') expDone.add(key);
            }
            // Kill it in full flight: after enough acknowledgements, with more in progress.
            if (acked.size >= 60 && expDone.size >= 5) {
              child.kill('SIGKILL');
              resolve();
            }
          });
        });
        await exited;
        store = await open(dir);
        stores.push(store);
        const box = await inbox(store, acc);
        const present = new Set((await store.listMessages(box)).map((m) => `${box}/${m.uid}`));
        for (const [key] of acked) {
          if (expDone.has(key)) assert.ok(!present.has(key), `expunged ${key} is gone`);
          else if (!expStarted.has(key)) assert.ok(present.has(key), `acknowledged ${key} survived the crash`);
        }
        const v = await store.verify!();
        assert.deepEqual(v.problems, []);
        assert.equal(v.tempFiles, 0, 'temporary files were swept');
        const messages = await store.listMessages(box);
        assert.equal((await store.getAccountById(acc))!.usage, messages.reduce((n, m) => n + m.size, 0));
        for (const m of messages.slice(0, 20)) assert.equal((await store.blobs.read(m.blobId)).length, m.size);
        // And it keeps working, with UIDs above everything handed out before the crash.
        const s = await stage(store, testMessage('after'));
        const [r] = await store.deliver(s, [{ accountId: acc }]);
        assert.ok(r!.ok);
        const maxAcked = Math.max(...[...acked.keys()].map((k) => Number(k.split('/')[1])));
        assert.ok(r.uid > maxAcked, `new UID ${r.uid} above ${maxAcked}`);
        await store.blobs.discard(s);
      });
    });

    describe('sieve scripts and delivery memory', () => {
      const quota = { maxScripts: 3, maxBytes: 100 };
      it('puts, lists, gets, replaces, renames and deletes scripts; one is active', async () => {
        const { store } = await fresh();
        const acc = await withAccount(store);
        assert.deepEqual(await store.sieve.listScripts(acc), []);
        assert.equal(await store.sieve.getActiveScript(acc), null);
        await store.sieve.putScript(acc, 'main', 'keep;', quota);
        await store.sieve.putScript(acc, 'Main', 'discard;', quota);
        const list = await store.sieve.listScripts(acc);
        assert.deepEqual(list.map((s) => [s.name, s.active, s.size]), [['Main', false, 8], ['main', false, 5]], 'names are case-sensitive (RFC 5804 §1.6)');
        await store.sieve.setActive(acc, 'main');
        assert.equal((await store.sieve.getActiveScript(acc))!.text, 'keep;');
        await store.sieve.setActive(acc, 'Main');
        assert.deepEqual((await store.sieve.listScripts(acc)).filter((s) => s.active).map((s) => s.name), ['Main'], 'only one active');
        // Replacing keeps the active state.
        await store.sieve.putScript(acc, 'Main', 'stop;', quota);
        assert.equal((await store.sieve.getActiveScript(acc))!.text, 'stop;');
        await rejectsWith(store.sieve.deleteScript(acc, 'Main'), 'forbidden');
        await rejectsWith(store.sieve.deleteScript(acc, 'nope'), 'not-found');
        await rejectsWith(store.sieve.renameScript(acc, 'Main', 'main'), 'exists');
        await rejectsWith(store.sieve.renameScript(acc, 'nope', 'x'), 'not-found');
        await store.sieve.renameScript(acc, 'Main', 'renamed');
        assert.equal((await store.sieve.getActiveScript(acc))!.name, 'renamed', 'the active script stays active when renamed');
        await rejectsWith(store.sieve.setActive(acc, 'nope'), 'not-found');
        await store.sieve.setActive(acc, null);
        assert.equal(await store.sieve.getActiveScript(acc), null);
        await store.sieve.deleteScript(acc, 'renamed');
        assert.deepEqual((await store.sieve.listScripts(acc)).map((s) => s.name), ['main']);
        assert.equal((await store.sieve.getScript(acc, 'main'))!.text, 'keep;');
        assert.equal(await store.sieve.getScript(acc, 'MAIN'), null);
      });

      it('enforces the script count and size quota and refuses bad names', async () => {
        const { store } = await fresh();
        const acc = await withAccount(store);
        await rejectsWith(store.sieve.putScript(acc, 'big', 'x'.repeat(101), quota), 'over-quota');
        // UTF-8 octets count, not characters.
        await rejectsWith(store.sieve.putScript(acc, 'big', 'é'.repeat(51), quota), 'over-quota');
        for (const n of ['a', 'b', 'c']) await store.sieve.putScript(acc, n, 'keep;', quota);
        await rejectsWith(store.sieve.putScript(acc, 'd', 'keep;', quota), 'over-quota');
        await store.sieve.putScript(acc, 'c', 'discard;', quota); // replacing is not a new script
        for (const bad of ['', 'a\nb', 'tab\there', 'x\u2028y', 'n'.repeat(129)]) await rejectsWith(store.sieve.putScript(acc, bad, 'keep;', { maxScripts: 0, maxBytes: 0 }), 'invalid');
        await rejectsWith(store.sieve.renameScript(acc, 'a', ''), 'invalid');
        await rejectsWith(store.sieve.putScript(9999, 'x', 'keep;', quota), 'not-found');
      });

      it('keeps scripts and memory across a restart and drops them with the account', async () => {
        const { store, dir } = await fresh();
        const acc = await withAccount(store);
        const now = new Date('2025-01-01T00:00:00Z');
        const later = new Date(now.getTime() + 7 * 86_400_000);
        await store.sieve.putScript(acc, 'vacation', 'keep;', quota);
        await store.sieve.setActive(acc, 'vacation');
        assert.equal(await store.sieve.vacationReserve(acc, 'Carol@B.test', 'h1', now, later), true);
        assert.equal(await store.sieve.duplicateSeen(acc, 'id-1', now, later), false);
        await store.close();
        const again = await open(dir);
        stores.push(again);
        assert.equal((await again.sieve.getActiveScript(acc))!.name, 'vacation');
        assert.equal(await again.sieve.vacationReserve(acc, 'carol@b.test', 'h1', now, later), false, 'remembered durably, sender compared without case');
        assert.equal(await again.sieve.duplicateSeen(acc, 'id-1', now, later), true);
        await again.removeAccount('bob@a.test');
        const acc2 = await withAccount(again);
        assert.deepEqual(await again.sieve.listScripts(acc2), []);
        await assertConsistent(again);
      });

      it('vacation memory: one reply per sender and handle until it expires', async () => {
        const { store } = await fresh();
        const acc = await withAccount(store);
        const t0 = new Date('2025-01-01T00:00:00Z');
        const until = new Date(t0.getTime() + 86_400_000);
        assert.equal(await store.sieve.vacationReserve(acc, 'carol@b.test', 'h1', t0, until), true);
        assert.equal(await store.sieve.vacationReserve(acc, 'carol@b.test', 'h1', new Date(t0.getTime() + 1000), until), false);
        assert.equal(await store.sieve.vacationReserve(acc, 'carol@b.test', 'h2', t0, until), true, 'another handle is another reply');
        assert.equal(await store.sieve.vacationReserve(acc, 'dave@b.test', 'h1', t0, until), true, 'another sender');
        assert.equal(await store.sieve.vacationReserve(acc, 'carol@b.test', 'h1', until, new Date(until.getTime() + 1000)), true, 'expired: a new reply');
        assert.equal(await store.sieve.duplicateSeen(acc, 'x', t0, until), false);
        assert.equal(await store.sieve.duplicateSeen(acc, 'x', t0, until), true);
        assert.equal(await store.sieve.duplicateSeen(acc, 'x', until, new Date(until.getTime() + 1)), false, 'expired ids are new again');
        await store.sieve.pruneSieveMemory(new Date(until.getTime() + 2));
        assert.equal(await store.sieve.duplicateSeen(acc, 'x', t0, until), false, 'pruned');
      });

      it('counts redirects per day within the maximum', async () => {
        const { store } = await fresh();
        const acc = await withAccount(store);
        assert.equal(await store.sieve.reserveRedirects(acc, '2025-01-01', 2, 3), true);
        assert.equal(await store.sieve.reserveRedirects(acc, '2025-01-01', 2, 3), false, 'would pass the maximum: nothing counted');
        assert.equal(await store.sieve.reserveRedirects(acc, '2025-01-01', 1, 3), true);
        assert.equal(await store.sieve.reserveRedirects(acc, '2025-01-01', 1, 3), false);
        assert.equal(await store.sieve.reserveRedirects(acc, '2025-01-02', 3, 3), true, 'a new day');
      });

      it('keeps global scripts for include :global', async () => {
        const { store } = await fresh();
        assert.equal(await store.sieve.getGlobalScript('spam'), null);
        await store.sieve.putGlobalScript('spam', 'fileinto "Junk";');
        await store.sieve.putGlobalScript('spam', 'keep;');
        assert.equal((await store.sieve.getGlobalScript('spam'))!.text, 'keep;');
        assert.deepEqual((await store.sieve.listGlobalScripts()).map((s) => [s.name, s.size]), [['spam', 5]]);
        await store.sieve.deleteGlobalScript('spam');
        await rejectsWith(store.sieve.deleteGlobalScript('spam'), 'not-found');
      });
    });

    describe('IMAP METADATA entries (RFC 5464)', () => {
      const none = { maxEntries: 0, maxTotalBytes: 0 };
      const b = (t: string): Buffer => Buffer.from(t);
      const show = (es: Array<{ name: string; value: Buffer }>): string[] => es.map((e) => `${e.name}=${e.value.toString()}`);
      it('sets, reads by depth, deletes with NIL, per mailbox and server, durably; events published', async () => {
        const { store, dir } = await fresh();
        const acc = await withAccount(store);
        const inbox = (await store.getMailbox(acc, 'INBOX'))!.id;
        const events: ChangeEvent[] = [];
        const unsub = store.changes.subscribe(acc, (e) => events.push(e));
        await store.metadata.setMetadata(
          acc,
          inbox,
          [
            { name: '/private/comment', value: b('mine') },
            { name: '/shared/comment', value: b('ours') },
            { name: '/private/vendor/x/a', value: b('1') },
            { name: '/private/vendor/x/a/deep', value: b('2') },
            { name: '/private/vendor_y', value: b('3') },
          ],
          none,
        );
        await store.metadata.setMetadata(acc, null, [{ name: '/shared/admin', value: b('mailto:root@a.test') }], none);
        unsub();
        assert.deepEqual(
          events.filter((e) => e.type === 'metadata-changed'),
          [
            { type: 'metadata-changed', accountId: acc, target: inbox, names: ['/private/comment', '/shared/comment', '/private/vendor/x/a', '/private/vendor/x/a/deep', '/private/vendor_y'] },
            { type: 'metadata-changed', accountId: acc, target: null, names: ['/shared/admin'] },
          ],
        );
        assert.deepEqual(show(await store.metadata.getMetadata(acc, inbox, ['/private/comment', '/shared/comment', '/shared/nothing'], 0)), ['/private/comment=mine', '/shared/comment=ours']);
        assert.deepEqual(show(await store.metadata.getMetadata(acc, inbox, ['/private/vendor'], 0)), [], 'depth 0: only the name itself');
        assert.deepEqual(show(await store.metadata.getMetadata(acc, inbox, ['/private/vendor/x'], 1)), ['/private/vendor/x/a=1'], 'depth 1: children, not grandchildren');
        assert.deepEqual(show(await store.metadata.getMetadata(acc, inbox, ['/private/vendor'], 'infinity')), ['/private/vendor/x/a=1', '/private/vendor/x/a/deep=2'], '"_" is no wildcard; vendor_y is not below vendor');
        assert.deepEqual(show(await store.metadata.getMetadata(acc, inbox, ['/private', '/private/vendor'], 'infinity')).length, 4, 'each entry once');
        assert.deepEqual(show(await store.metadata.getMetadata(acc, null, ['/shared'], 'infinity')), ['/shared/admin=mailto:root@a.test'], 'server entries are apart from mailbox ones');
        assert.deepEqual(show(await store.metadata.getMetadata(acc, null, ['/private'], 'infinity')), []);
        await store.metadata.setMetadata(acc, inbox, [{ name: '/private/comment', value: null }, { name: '/shared/comment', value: b('new') }], none);
        await store.close();
        const again = await open(dir);
        stores.push(again);
        assert.deepEqual(show(await again.metadata.getMetadata(acc, inbox, ['/private/comment', '/shared/comment'], 0)), ['/shared/comment=new']);
        const acc2 = await withAccount(again, 'carol@a.test');
        assert.deepEqual(await again.metadata.getMetadata(acc2, null, ['/shared'], 'infinity'), [], 'another account sees none');
        await rejectsWith(again.metadata.getMetadata(acc2, inbox, ['/shared'], 0), 'not-found');
        await rejectsWith(again.metadata.setMetadata(acc2, inbox, [{ name: '/shared/x', value: b('y') }], none), 'not-found');
      });

      it('limits: entries per target and octets per account, all or nothing; lowering a limit still allows deletion', async () => {
        const { store } = await fresh();
        const acc = await withAccount(store);
        const inbox = (await store.getMailbox(acc, 'INBOX'))!.id;
        const limits = { maxEntries: 2, maxTotalBytes: 100 };
        await store.metadata.setMetadata(acc, inbox, [{ name: '/private/a', value: b('1') }, { name: '/private/b', value: b('2') }], limits);
        await rejectsWith(store.metadata.setMetadata(acc, inbox, [{ name: '/private/a', value: null }, { name: '/private/c', value: b('3') }, { name: '/private/d', value: b('4') }], limits), 'over-quota');
        assert.deepEqual(show(await store.metadata.getMetadata(acc, inbox, ['/private'], 'infinity')), ['/private/a=1', '/private/b=2'], 'nothing of the refused command was kept');
        await store.metadata.setMetadata(acc, inbox, [{ name: '/private/a', value: null }, { name: '/private/c', value: b('3') }], limits);
        await store.metadata.setMetadata(acc, null, [{ name: '/shared/s', value: b('server') }], limits);
        // '/private/b' + '2' is 11 octets; the account has 11 + 11 + 15 = 37
        await rejectsWith(store.metadata.setMetadata(acc, null, [{ name: '/shared/t', value: b('x'.repeat(60)) }], limits), 'over-quota');
        await store.metadata.setMetadata(acc, null, [{ name: '/shared/t', value: b('x'.repeat(50)) }], limits);
        await store.metadata.setMetadata(acc, inbox, [{ name: '/private/b', value: null }], { maxEntries: 1, maxTotalBytes: 10 });
        assert.deepEqual(show(await store.metadata.getMetadata(acc, inbox, ['/private'], 'infinity')), ['/private/c=3']);
      });

      it('go with a deleted mailbox, stay with a renamed one, go with the account', async () => {
        const { store } = await fresh();
        const acc = await withAccount(store);
        const box = await store.createMailbox(acc, 'Work');
        await store.createMailbox(acc, 'Work/Sub');
        const sub = (await store.getMailbox(acc, 'Work/Sub'))!.id;
        await store.metadata.setMetadata(acc, box.id, [{ name: '/private/comment', value: b('w') }], none);
        await store.metadata.setMetadata(acc, sub, [{ name: '/private/comment', value: b('s') }], none);
        await store.renameMailbox(acc, 'Work', 'Job');
        const moved = (await store.getMailbox(acc, 'Job/Sub'))!.id;
        assert.deepEqual(show(await store.metadata.getMetadata(acc, moved, ['/private/comment'], 0)), ['/private/comment=s'], 'a child keeps its entries when its parent is renamed');
        await store.deleteMailbox(acc, 'Job/Sub');
        const again = await store.createMailbox(acc, 'Job/Sub');
        assert.deepEqual(await store.metadata.getMetadata(acc, again.id, ['/private/comment'], 0), [], 'a recreated name starts empty');
        assert.deepEqual(show(await store.metadata.getMetadata(acc, box.id, ['/private/comment'], 0)), ['/private/comment=w']);
        await store.metadata.setMetadata(acc, null, [{ name: '/private/x', value: b('1') }], none);
        await store.removeAccount('bob@a.test');
        const acc3 = await withAccount(store, 'bob@a.test');
        assert.deepEqual(await store.metadata.getMetadata(acc3, null, ['/private'], 'infinity'), []);
      });
    });

    describe('admin API tokens', () => {
      it('creates, finds by secret hash, lists, touches and revokes tokens, durably', async () => {
        const { store, dir } = await fresh();
        const t0 = new Date('2025-01-01T00:00:00Z');
        const made = await store.apiTokens.createApiToken('deploy', 'a'.repeat(64), t0);
        assert.deepEqual(made, { name: 'deploy', createdAt: t0, lastUsedAt: null });
        await rejectsWith(store.apiTokens.createApiToken('deploy', 'b'.repeat(64), t0), 'exists');
        await store.apiTokens.createApiToken('backup', 'c'.repeat(64), t0);
        assert.deepEqual((await store.apiTokens.listApiTokens()).map((t) => t.name), ['backup', 'deploy']);
        assert.equal((await store.apiTokens.findApiToken('a'.repeat(64)))?.name, 'deploy');
        assert.equal((await store.apiTokens.findApiToken('a'.repeat(64)))?.secretHash, 'a'.repeat(64));
        assert.equal(await store.apiTokens.findApiToken('d'.repeat(64)), null, 'an unknown secret matches nothing');
        const t1 = new Date(t0.getTime() + 60_000);
        await store.apiTokens.touchApiToken('deploy', t1);
        await store.apiTokens.touchApiToken('deploy', t0);
        assert.deepEqual((await store.apiTokens.findApiToken('a'.repeat(64)))?.lastUsedAt, t1, 'last used never moves back');
        await store.close();
        const again = await open(dir);
        stores.push(again);
        assert.deepEqual(
          (await again.apiTokens.listApiTokens()).map((t) => [t.name, t.createdAt.getTime(), t.lastUsedAt?.getTime() ?? null]),
          [
            ['backup', t0.getTime(), null],
            ['deploy', t0.getTime(), t1.getTime()],
          ],
        );
        await again.apiTokens.revokeApiToken('deploy');
        assert.equal(await again.apiTokens.findApiToken('a'.repeat(64)), null, 'a revoked token matches nothing');
        await rejectsWith(again.apiTokens.revokeApiToken('deploy'), 'not-found');
        assert.deepEqual((await again.apiTokens.listApiTokens()).map((t) => t.name), ['backup']);
      });
    });

    describe('POP3 maildrop lock', () => {
      it('one holder per account; released once, taken again (RFC 1939 §4)', async () => {
        const { store } = await fresh();
        const release = await store.lockMaildrop(41);
        assert.ok(release, 'a free maildrop is locked');
        assert.equal(await store.lockMaildrop(41), null, 'a second session is refused');
        const other = await store.lockMaildrop(42);
        assert.ok(other, 'another account is independent');
        await release();
        await release();
        const again = await store.lockMaildrop(41);
        assert.ok(again, 'free again after the release');
        assert.equal(await store.lockMaildrop(41), null, 'a second release call did not free the new holder');
        await again();
        await other();
      });
    });

    describe('full-text index (when the backend has one)', () => {
      const text = (body: string, subject = '') => ({ subject, from: '', to: '', cc: '', bcc: '', headers: '', body });
      it('marks, superset candidates up to the mark, removal, a new UIDVALIDITY, dropping a mailbox', async (t) => {
        const { store } = await fresh();
        const index = store.textIndex;
        if (!index) return t.skip('this backend has no full-text index (SEARCH scans)');
        assert.equal(await index.progress(7, 100), 0);
        await index.put(7, 100, [{ uid: 1, text: text('well hello there') }, { uid: 2, text: text('nothing', 'hello subject') }, { uid: 3, text: text('abcxbcd') }], 3);
        assert.equal(await index.progress(7, 100), 3);
        assert.equal(await index.progress(7, 101), 0, 'another UIDVALIDITY has nothing indexed');
        assert.deepEqual((await index.candidates(7, 100, ['body'], 'ell'))!, { uids: [1], upTo: 3 });
        assert.deepEqual((await index.candidates(7, 100, ['subject', 'body'], 'hello'))!.uids.sort(), [1, 2]);
        assert.ok((await index.candidates(7, 100, ['body'], 'abcd'))!.uids.includes(3), 'a superset: the trigrams are there');
        assert.equal(await index.candidates(7, 100, ['body'], 'el'), null, 'too short to narrow');
        // Messages at or below the mark are skipped (two indexers may race); the mark never goes back
        await index.put(7, 100, [{ uid: 2, text: text('again') }], 2);
        assert.equal(await index.progress(7, 100), 3);
        assert.deepEqual((await index.candidates(7, 100, ['body'], 'again'))!.uids, []);
        await index.remove(7, [1]);
        assert.deepEqual((await index.candidates(7, 100, ['body'], 'ell'))!.uids, []);
        await index.put(7, 101, [{ uid: 1, text: text('fresh') }], 1);
        assert.deepEqual((await index.candidates(7, 101, ['subject'], 'hello'))!.uids, [], 'the old UIDVALIDITY entries are gone');
        await index.dropMailbox(7);
        assert.equal(await index.progress(7, 101), 0);
        assert.deepEqual((await index.candidates(7, 101, ['body'], 'fresh'))!.uids, []);
      });
    });
  });
}
