// Scale-out benchmark (issue 17): the same two loads on three deployments, each figure beside the
// one-node SQLite figure of the same run as a ratio:
//  - one `yubin serve` over SQLite (the embedded default);
//  - one `yubin serve` over PostgreSQL (a throwaway Debian cluster, test/helpers/postgres.ts);
//  - two `yubin serve` over that one PostgreSQL database, the load split across both.
// Loads:
//  - SMTP ingest: Postfix's smtp-source, 4 KB messages to one local recipient, one message per
//    connection, 20 connections in all (10 per node with two nodes), [checks] enabled = false (the
//    SMTP engine and the store: what the backends change); every 250 is counted in the mailbox
//    afterwards, through IMAP;
//  - IMAP: the ten-client mixed load of bench/imap.ts (SELECT, APPEND, UID FETCH 1:* (UID FLAGS),
//    FETCH * (FLAGS BODY.PEEK[HEADER]), STORE, UID SEARCH BODY, STORE \Deleted + EXPUNGE) on one
//    shared mailbox, in commands per second; with two nodes, five clients on each.
// Everything on 127.0.0.1, in temporary directories, stopped at the end and on Ctrl-C.
//
//   npm run bench -- nodes
//   NODES_MESSAGES=N          SMTP messages per row (default 400)
//   NODES_LOAD_SECONDS=S      seconds of each IMAP load (default 10)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startYubin, type YubinInstance } from '../test/helpers/server.js';
import { startCluster, type Cluster } from '../test/helpers/postgres.js';
import { source } from './smtp.js';

const MESSAGES = Number(process.env.NODES_MESSAGES ?? 400);
const SMTP_CONNECTIONS = 20;
const LOAD_SECONDS = Number(process.env.NODES_LOAD_SECONDS ?? 10);
const LOAD_CLIENTS = 10;
const RCPT = 'bench@bench.test';
const USER = 'imap@bench.test';
const PASS = 'bench-password';

/** A tagged reply other than OK; `no` when it was NO (the command failed, the session goes on). */
class ImapNo extends Error {
  constructor(
    message: string,
    readonly no: boolean,
  ) {
    super(message);
  }
}

/** A raw IMAP connection: one tagged command at a time, its response read up to the tagged line. */
class Imap {
  private buf = '';
  private waiter: (() => void) | null = null;
  private closed = false;
  private n = 0;
  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => undefined);
  }
  static async login(port: number, user: string): Promise<Imap> {
    const s = await new Promise<net.Socket>((res, rej) => {
      const sock = net.connect({ host: '127.0.0.1', port }, () => res(sock));
      sock.once('error', rej);
    });
    const k = new Imap(s);
    await k.until(() => k.buf.includes('\r\n'));
    k.buf = '';
    await k.cmd(`LOGIN ${user} ${PASS}`);
    return k;
  }
  private async until(done: () => boolean): Promise<void> {
    while (!done()) {
      if (this.closed) throw new Error(`IMAP connection closed; last: ${this.buf.slice(-300)}`);
      await new Promise<void>((r) => (this.waiter = r));
      this.waiter = null;
    }
  }
  async cmd(line: string): Promise<string> {
    const tag = `n${++this.n}`;
    this.socket.write(`${tag} ${line}\r\n`);
    const re = new RegExp(`(^|\r\n)${tag} (OK|NO|BAD)[^\r\n]*\r\n$`);
    await this.until(() => re.test(this.buf.slice(-2000)));
    const r = this.buf;
    this.buf = '';
    if (!new RegExp(`(^|\r\n)${tag} OK`).test(r)) throw new ImapNo(`${line.split("\r\n")[0]!.slice(0, 60)}: ${r.slice(r.lastIndexOf(`${tag} `)).trim()}`, new RegExp(`(^|\r\n)${tag} NO`).test(r));
    return r;
  }
  close(): void {
    this.socket.destroy();
  }
}

function makeMessage(i: number): string {
  let body = '';
  for (let n = 0; n < 12; n++) body += `line ${n} of message ${i}: the quick brown fox jumps over the lazy dog\r\n`;
  return `From: sender${i}@example.net\r\nTo: ${USER}\r\nSubject: benchmark message ${i}\r\nMessage-ID: <nodes-${i}@example.net>\r\nDate: Mon, 30 Nov 2026 12:00:00 +0000\r\n\r\n${body}unique word zebra${i}x\r\n`;
}

/**
 * bench/imap.ts's ten-client mixed load (that one is not exported): client i on nodes[i % n],
 * all on the mailbox "Mixed" of one account, for LOAD_SECONDS. Returns the commands answered OK
 * per second over all clients, and the commands answered NO (not counted in the rate; the first
 * few kept as examples). BAD or a dropped connection ends the run.
 */
async function mixedLoad(ports: number[]): Promise<{ rate: number; no: number; examples: string[] }> {
  const clients = await Promise.all(Array.from({ length: LOAD_CLIENTS }, (_, i) => Imap.login(ports[i % ports.length]!, USER)));
  let commands = 0;
  let no = 0;
  const examples: string[] = [];
  const deadline = Date.now() + LOAD_SECONDS * 1000;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    clients.map(async (k, ci) => {
      const step = async (line: string): Promise<string> => {
        try {
          const r = await k.cmd(line);
          commands++;
          return r;
        } catch (err) {
          if (!(err instanceof ImapNo && err.no)) throw err;
          no++;
          if (examples.length < 3) examples.push(err.message);
          return '';
        }
      };
      let i = 0;
      while (Date.now() < deadline) {
        const msg = makeMessage(1_000_000 + ci * 100_000 + i++);
        await step('SELECT Mixed');
        const r = await step(`APPEND Mixed {${Buffer.byteLength(msg, 'latin1')}+}\r\n${msg}`);
        const uid = /APPENDUID \d+ (\d+)/.exec(r)?.[1];
        await step('UID FETCH 1:* (UID FLAGS)');
        await step('FETCH * (FLAGS BODY.PEEK[HEADER])');
        await step('STORE 1 +FLAGS (\\Seen)');
        await step(`UID SEARCH BODY "zebra${1_000_000 + ci * 100_000}x"`);
        if (uid && i % 2 === 0) {
          await step(`UID STORE ${uid} +FLAGS (\\Deleted)`);
          await step('EXPUNGE');
        }
      }
    }),
  );
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const k of clients) k.close();
  return { rate: commands / secs, no, examples };
}

/** SMTP_CONNECTIONS connections split evenly over the nodes, MESSAGES in all; msg/s accepted. */
async function smtpIngest(ports: number[]): Promise<{ rate: number; sent: number }> {
  const per = Math.ceil(SMTP_CONNECTIONS / ports.length);
  const messages = Math.ceil(MESSAGES / ports.length);
  // warm-up: one message per connection through each node, not timed (counted in the mailbox check)
  await Promise.all(ports.map((p) => source(p, per, per, RCPT)));
  const t0 = process.hrtime.bigint();
  await Promise.all(ports.map((p) => source(p, per, messages, RCPT)));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  return { rate: (messages * ports.length) / secs, sent: (messages + per) * ports.length };
}

async function inboxCount(port: number, user: string): Promise<number> {
  const k = await Imap.login(port, user);
  try {
    const r = await k.cmd('SELECT INBOX');
    return Number(/\* (\d+) EXISTS/.exec(r)?.[1] ?? NaN);
  } finally {
    k.close();
  }
}

interface Row {
  label: string;
  smtp: number;
  imap: number;
  /** IMAP commands answered NO during the load. */
  no: number;
}

/** The servers' own account of a failure (an internal error behind a NO [SERVERBUG]): their last error log lines. */
function logServerErrors(label: string, nodes: YubinInstance[]): void {
  for (const n of nodes) {
    const errors = n.output().split('\n').filter((l) => /"level":(50|60|"error"|"fatal")/.test(l));
    if (errors.length) console.log(`  ${label}, ${n.hostname} logged ${errors.length} errors, the last:\n    ${errors.slice(-3).map((l) => l.slice(0, 600)).join('\n    ')}`);
  }
}

/** Starts the nodes, runs both loads, checks every acknowledged message landed, stops them. */
async function measure(label: string, store: Record<string, unknown>, nodeCount: number, live: Set<YubinInstance>): Promise<Row> {
  const config = {
    store,
    checks: { enabled: false },
    auth: { allow_plaintext: true, throttle_free_failures: 1_000_000, throttle_max_failures: 1_000_000 },
    limits: { max_connections_per_ip: 1000 },
  };
  const nodes: YubinInstance[] = [];
  try {
    // The first node creates the domain and accounts through the CLI; the others find them in the database.
    const first = await startYubin({ hostname: 'n1.bench.test', config, domains: ['bench.test'], users: [{ address: RCPT, password: PASS }, { address: USER, password: PASS }] });
    nodes.push(first);
    live.add(first);
    for (let i = 2; i <= nodeCount; i++) {
      const n = await startYubin({ hostname: `n${i}.bench.test`, config });
      nodes.push(n);
      live.add(n);
    }
    const setup = await Imap.login(first.port('imap'), USER);
    await setup.cmd('CREATE Mixed');
    setup.close();
    const { rate: smtp, sent } = await smtpIngest(nodes.map((n) => n.port('smtp')));
    // read through the last node: with two, half the messages came in through the other one
    const stored = await inboxCount(nodes[nodes.length - 1]!.port('imap'), RCPT);
    if (stored !== sent) throw new Error(`${label}: ${sent} messages acknowledged, ${stored} in the mailbox`);
    console.log(`  ${label}: SMTP ingest ${smtp.toFixed(0)} msg/s (${stored} of ${sent} acknowledged messages in the mailbox)`);
    const load = await mixedLoad(nodes.map((n) => n.port('imap')));
    console.log(`  ${label}: IMAP ${LOAD_CLIENTS}-client mixed load ${load.rate.toFixed(0)} commands/s answered OK, ${load.no} answered NO`);
    for (const e of load.examples) console.log(`    NO: ${e}`);
    if (load.no) logServerErrors(label, nodes);
    return { label, smtp, imap: load.rate, no: load.no };
  } catch (err) {
    logServerErrors(label, nodes);
    throw err;
  } finally {
    for (const n of nodes) {
      await n.destroy();
      live.delete(n);
    }
  }
}

export async function benchNodes(): Promise<Row[]> {
  if (spawnSync('sh', ['-c', 'command -v smtp-source']).status !== 0) throw new Error('smtp-source not found (apt-get install postfix)');
  const live = new Set<YubinInstance>();
  let cluster: Cluster | null = null;
  const root = mkdtempSync(join(tmpdir(), 'yubin-bench-nodes-'));
  let stopping: Promise<void> | null = null;
  const stopAll = (): Promise<void> =>
    (stopping ??= (async () => {
      await Promise.all([...live].map((n) => n.destroy().catch(() => undefined)));
      live.clear();
      await cluster?.stop().catch(() => undefined);
      cluster = null;
      rmSync(root, { recursive: true, force: true });
    })());
  // Ctrl-C: every node and the cluster are stopped and their directories removed before exiting
  // (the harness's exit hooks would only SIGKILL the nodes and SIGQUIT the postmaster).
  const onSignal = (sig: NodeJS.Signals): void => {
    void stopAll().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const rows: Row[] = [];
  try {
    console.log(`nodes: SMTP ${MESSAGES} × 4 KB, one message per connection, ${SMTP_CONNECTIONS} connections split over the nodes, checks off; IMAP ${LOAD_CLIENTS}-client mixed load for ${LOAD_SECONDS} s, clients split over the nodes`);
    rows.push(await measure('1 node, SQLite', {}, 1, live));
    cluster = await startCluster();
    if (!cluster) {
      console.log('  PostgreSQL binaries not found (apt-get install postgresql): no PostgreSQL rows');
    } else {
      const one = await cluster.createDatabase('bench_one');
      rows.push(await measure('1 node, PostgreSQL', { backend: 'postgresql', url: one, pool_size: 10 }, 1, live));
      const two = await cluster.createDatabase('bench_two');
      rows.push(await measure('2 nodes, one PostgreSQL', { backend: 'postgresql', url: two, pool_size: 10 }, 2, live));
    }
  } finally {
    await stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const base = rows[0]!;
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  console.log('  deployment                  SMTP ingest        ratio   IMAP mixed load      ratio   (NO replies)');
  for (const r of rows) {
    console.log(`  ${r.label.padEnd(26)}  ${r.smtp.toFixed(0).padStart(6)} msg/s   ${ratio(r.smtp, base.smtp).padStart(6)}   ${r.imap.toFixed(0).padStart(6)} commands/s  ${ratio(r.imap, base.imap).padStart(6)}   (${r.no})`);
  }
  console.log('  (ratio = ÷ the one-node SQLite figure of this run; higher is better; PostgreSQL: Debian cluster on 127.0.0.1, fsync on, synchronous_commit on)');
  return rows;
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  benchNodes().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
