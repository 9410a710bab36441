// A child process for the store contract's crash test (contract.ts): opens a store and delivers
// (and expunges) in a loop, printing one line per acknowledged change, until it is killed.
//
//   node --import tsx src/store/contract-writer.ts <module url> <export name> <data dir> <account id>
//
// Lines: "ACK <mailboxId> <uid> <blobId>" after a delivery resolved (it is durable),
//        "EXPSTART <mailboxId> <uid>" before an expunge, "EXP <mailboxId> <uid>" after it resolved.
import { randomBytes } from 'node:crypto';
import type { Store } from './types.js';

async function main(): Promise<void> {
  const [moduleUrl, exportName, dir, account] = process.argv.slice(2);
  if (!moduleUrl || !exportName || !dir || !account) throw new Error('usage: contract-writer <module url> <export name> <data dir> <account id>');
  const mod = (await import(moduleUrl)) as Record<string, unknown>;
  const open = mod[exportName] as (dir: string) => Promise<Store>;
  const store = await open(dir);
  const accountId = Number(account);
  const acked: Array<[number, number]> = [];
  const shared = Buffer.from(`Subject: shared\r\nFrom: a@b.test\r\n\r\nthe same bytes every time\r\n`);
  let n = 0;
  const worker = async (w: number): Promise<never> => {
    for (;;) {
      n++;
      // Every fifth message has the same content (exercises de-duplication); sizes vary up to ~200 KB.
      const body = n % 5 === 0 ? shared : Buffer.concat([Buffer.from(`Subject: m${n} w${w}\r\nFrom: a@b.test\r\n\r\n`), Buffer.from(randomBytes(1 + (n % 7) * 15000).toString('base64') + '\r\n')]);
      // Every other one defers its fsync to the commit (SMTP delivery does), and every third one
      // under 64 KiB stays in memory until the commit writes its file (SMTP delivery's small
      // messages): every path survives the kill.
      const writer = store.blobs.createWriter({ deferSync: n % 2 === 0, memory: n % 3 === 0 });
      for (let off = 0; off < body.length; off += 16384) await writer.write(body.subarray(off, off + 16384));
      const staged = await writer.finish();
      const [r] = await store.deliver(staged, [{ accountId }]);
      await store.blobs.discard(staged);
      if (r?.ok) {
        process.stdout.write(`ACK ${r.mailboxId} ${r.uid} ${staged.id}\n`);
        acked.push([r.mailboxId, r.uid]);
      }
      if (n % 3 === 0 && acked.length > 2) {
        const [mailboxId, uid] = acked.splice(Math.floor(acked.length / 2), 1)[0]!;
        process.stdout.write(`EXPSTART ${mailboxId} ${uid}\n`);
        const removed = await store.expunge(mailboxId, [uid]);
        if (removed.includes(uid)) process.stdout.write(`EXP ${mailboxId} ${uid}\n`);
      }
    }
  };
  await Promise.all([0, 1, 2, 3, 4, 5].map(worker));
}

main().catch((err: unknown) => {
  process.stderr.write(`contract-writer: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
