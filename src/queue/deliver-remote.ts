// Remote delivery agent: one message to the recipients of one domain, over SMTP to the domain's
// MX hosts (or the smarthost), with connections kept for the next message to the same host.
import { Readable } from 'node:stream';
import type { Config } from '../config/schema.js';
import type { Resolver } from '../dns/resolver.js';
import type { Logger } from '../log/logger.js';
import type { MessageSigner } from './types.js';
import type { QueueBackend, QueuedMessage, QueuedRecipient, RecipientResult } from './queue.js';
import { routeDomain, routeSmarthost, type Route } from './route.js';
import { SmtpClient, SmtpConnectionError, type TlsMode } from '../smtp/client/connection.js';
import { replyText, xtext, DataEncoder, type SmtpReply } from '../smtp/client/wire.js';
import { reencodeForRelay, UnrelayableError, MAX_LINE } from '../message/reencode.js';

/** The message as it goes on the wire: the stored file, or its re-encoding (lines over 998 octets). */
interface Content {
  size: number;
  open(): Readable;
}

export type RemoteResult = { idx: number } & RecipientResult;

/** Most transactions on one connection before it is closed. */
const MAX_TRANSACTIONS_PER_CONNECTION = 1000;
/**
 * How long after it was opened a connection may still take a new transaction (Postfix's
 * smtp_connection_reuse_time_limit; Postfix has no count limit by default).
 */
const MAX_CONNECTION_AGE_MS = 300_000;
/** Recipients per transaction. */
const MAX_RCPTS_PER_TRANSACTION = 100;
/** How long a successful MX lookup is reused. */
const ROUTE_CACHE_MS = 60_000;
/** How long an idle connection is kept for the next message to the same host. */
const IDLE_MS = 5_000;
/**
 * Messages up to this size are read from the queue once per attempt and held in memory for the
 * long-line scan, the DKIM signer and the wire; larger ones are streamed from the file each time.
 */
export const IN_MEMORY_MAX = 256 * 1024;

/**
 * Whether a message in memory may have a line over MAX_LINE octets (CRLF not counted): a search
 * for each LF, no stream. False means certainly none (the re-encoder has nothing to do); true
 * (also for a line of MAX_LINE octets ending in CRLF) sends the message through the re-encoder,
 * which decides exactly.
 */
export function mayHaveLongLine(bytes: Uint8Array): boolean {
  // a line from `start` is longer than MAX_LINE when the next MAX_LINE + 1 octets hold no LF: one
  // search per MAX_LINE octets, not one per line (each search is a call into C++)
  let start = 0;
  for (;;) {
    if (bytes.length - start <= MAX_LINE) return false;
    const lf = bytes.lastIndexOf(0x0a, start + MAX_LINE);
    if (lf < start) return true;
    start = lf + 1;
  }
}

class Pool {
  private idle = new Map<string, Array<{ client: SmtpClient; since: number }>>();
  /**
   * One timer for every kept connection (a timer per connection cost a setTimeout and a
   * clearTimeout per message): runs while any connection is kept, closing those idle for
   * IDLE_MS (so after IDLE_MS to 1.2 × IDLE_MS).
   */
  private sweeper: NodeJS.Timeout | null = null;

  constructor(private readonly idleMs: number) {}

  take(key: string): SmtpClient | null {
    const list = this.idle.get(key);
    while (list && list.length) {
      const e = list.pop()!;
      if (e.client.usable) return e.client;
    }
    return null;
  }

  put(key: string, client: SmtpClient): void {
    if (!client.usable || client.transactions >= MAX_TRANSACTIONS_PER_CONNECTION || Date.now() - client.openedAt >= MAX_CONNECTION_AGE_MS) {
      void client.quit();
      return;
    }
    let list = this.idle.get(key);
    if (!list) this.idle.set(key, (list = []));
    list.push({ client, since: Date.now() });
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.sweep(), this.idleMs / 5);
      this.sweeper.unref();
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, list] of this.idle) {
      // oldest first: connections are pushed as they come back
      while (list.length && now - list[0]!.since >= this.idleMs) void list.shift()!.client.quit();
      if (!list.length) this.idle.delete(key);
    }
    if (!this.idle.size && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.idle.values()].flat();
    this.idle.clear();
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    await Promise.all(all.map((e) => e.client.quit()));
  }
}

export interface RemoteDeps {
  config: Config;
  resolver: Resolver;
  logger: Logger;
  queue: QueueBackend;
  signer?: MessageSigner;
  /** How long an idle connection is kept (ms; default IDLE_MS). */
  idleMs?: number;
}

function fromReply(r: SmtpReply, fallbackStatus: string): { status: string; reply: string } {
  const cls = Math.floor(r.code / 100);
  const status = r.enhanced ?? (cls === 2 ? '2.0.0' : cls === 4 ? fallbackStatus.replace(/^\d/, '4') : fallbackStatus.replace(/^\d/, '5'));
  return { status, reply: replyText(r) };
}

export class RemoteDelivery {
  private readonly pool: Pool;
  /** Connections in use, closed when a shutdown runs out of grace. */
  private readonly active = new Set<SmtpClient>();
  private readonly abort = new AbortController();

  constructor(private readonly deps: RemoteDeps) {
    this.pool = new Pool(deps.idleMs ?? IDLE_MS);
  }

  /** Breaks every connection in use (shutdown after the grace time). */
  abortAll(): void {
    this.abort.abort();
    for (const c of this.active) c.close();
  }

  closeIdle(): Promise<void> {
    return this.pool.closeAll();
  }

  /** Successful routes are kept for ROUTE_CACHE_MS: a burst of mail to one domain asks DNS once. */
  private readonly routes = new Map<string, { route: Route; until: number }>();

  /** The route (a Route at once when it is cached: no promise to wait for). */
  private route(domain: string | null): Route | Promise<Route> {
    const key = domain ?? '\0smarthost';
    const hit = this.routes.get(key);
    if (hit && hit.until > Date.now()) {
      // RFC 5321 §5.1: equal preferences in random order, for every delivery
      const r = hit.route;
      // one host: nothing to shuffle
      if (r.kind !== 'hosts' || r.hosts.length < 2) return r;
      return { ...r, hosts: r.hosts.map((h) => ({ h, k: Math.random() })).sort((a, b) => a.h.preference - b.h.preference || a.k - b.k).map((x) => x.h) };
    }
    return this.lookUp(domain, key);
  }

  private async lookUp(domain: string | null, key: string): Promise<Route> {
    const smart = this.deps.config.queue.smarthost;
    const route = domain === null ? await routeSmarthost(this.deps.resolver, smart!.host) : await routeDomain(this.deps.resolver, domain);
    if (route.kind === 'hosts') {
      if (this.routes.size > 10_000) this.routes.clear();
      this.routes.set(key, { route, until: Date.now() + ROUTE_CACHE_MS });
    } else this.routes.delete(key);
    return route;
  }

  /** `bytes`: the message, when the caller read it already (QueueBackend.getForDelivery). */
  async deliver(msg: QueuedMessage, rcpts: QueuedRecipient[], domain: string, bytes?: Buffer | null): Promise<RemoteResult[]> {
    const { config } = this.deps;
    const all = (state: 'deferred' | 'bounced', status: string, reply: string, remoteMta: string | null = null): RemoteResult[] =>
      rcpts.map((r) => ({ idx: r.idx, state, status, reply, remoteMta }));

    const smart = config.queue.smarthost;
    let route: Route;
    try {
      const r = this.route(smart ? null : domain);
      route = r instanceof Promise ? await r : r;
    } catch (err) {
      return all('deferred', '4.4.3', `451 4.4.3 routing ${domain} failed: ${(err as Error).message}`);
    }
    // the debug lines' objects are made only when debug is on (one delivery each, at thousands a second)
    const debug = this.deps.logger.isLevelEnabled('debug');
    if (debug) this.deps.logger.debug({ queueId: msg.id, domain, route: route.kind }, 'routed');
    if (route.kind === 'fail') return all(route.permanent ? 'bounced' : 'deferred', route.status, `${route.code} ${route.status} ${route.text}`);

    // RFC 5322 §2.1.1, RFC 5321 §4.5.3.1.6: no line over 998 octets goes out (we accept longer
    // ones, smtp.max_line_length): the parts holding one are re-encoded, long header lines folded,
    // BEFORE DKIM signing so that the signature covers what is sent. RFC 3030 §3: BINARYMIME
    // (BDAT) has no line limit; such a message goes as it is.
    let content: Content;
    let openRange: (range?: { start?: number; end?: number }) => Readable;
    let inMemory: Buffer | null = null;
    if (bytes || msg.size <= IN_MEMORY_MAX) {
      const held = (inMemory = bytes ?? (await this.deps.queue.readMessage(msg.id)));
      openRange = (range) => Readable.from([held.subarray(range?.start ?? 0, range?.end ?? held.length)], { objectMode: false });
      content = { size: held.length, open: () => openRange() };
    } else {
      openRange = (range) => this.deps.queue.openMessage(msg.id, range);
      content = { size: msg.size, open: () => openRange() };
    }
    if (msg.body !== 'BINARYMIME' && (!inMemory || mayHaveLongLine(inMemory))) {
      try {
        const re = await reencodeForRelay(openRange, {
          maxHeldLine: Math.max(1024 * 1024, config.smtp.max_line_length + 2),
        });
        if (re) {
          this.deps.logger.info({ queueId: msg.id, size: msg.size, reencodedSize: re.size, changes: re.changes }, 'lines over 998 octets re-encoded for relay');
          content = re;
        }
      } catch (err) {
        if (!(err instanceof UnrelayableError)) throw err;
        // RFC 3463 §3.7: X.6.3, conversion required but not possible
        return all('bounced', '5.6.3', `554 5.6.3 message cannot be relayed: ${err.message}`);
      }
    }

    const port = smart ? smart.port : config.queue.remote_port;
    const tls: TlsMode = smart ? (smart.tls === 'tls' ? 'implicit' : smart.tls === 'none' ? 'none' : 'starttls') : 'opportunistic';
    let lastError = `451 4.4.1 no host of ${domain} could be reached`;
    let lastStatus = '4.4.1';
    // RFC 5321 §5.1: try each host (and each of its addresses) in order until one takes the message
    for (const host of route.hosts) {
      for (const address of host.addresses) {
        const key = `${address}:${port}:${tls}`;
        // a kept connection may have been closed by the server meanwhile: then once more on a fresh one
        let mode = tls;
        for (let round = 0; round < 2; round++) {
          let client = round === 0 ? this.pool.take(key) : null;
          const reused = client !== null;
          if (debug) this.deps.logger.debug({ queueId: msg.id, address, reused }, 'connection');
          try {
            client ??= await SmtpClient.connect({
              host: address,
              port,
              servername: host.name,
              localAddress: config.queue.source_address,
              heloName: config.hostname,
              tls: mode,
              connectTimeoutMs: config.queue.connect_timeout,
              signal: this.abort.signal,
            });
            if (!reused && smart?.username) await client.auth(smart.username, smart.password ?? '');
          } catch (err) {
            if (!(err instanceof SmtpConnectionError)) throw err;
            client?.close();
            if (err.tlsFailed && mode === 'opportunistic' && !msg.requireTls && round === 0) {
              // RFC 7435 §3: opportunistic TLS that fails falls back to a clear-text connection
              this.deps.logger.info({ queueId: msg.id, host: host.name, err: err.message }, 'STARTTLS failed; trying without TLS');
              mode = 'none';
              continue;
            }
            // a host that refuses or fails is not the recipient's fault: next host, else retry later
            const failed = err.reply && err.reply.code >= 400 ? err.reply : null;
            lastStatus = (failed?.enhanced ?? '4.4.1').replace(/^5/, '4');
            lastError = `${failed ? String(failed.code).replace(/^5/, '4') : '451'} ${lastStatus} ${err.message}`;
            this.deps.logger.info({ queueId: msg.id, host: host.name, address, err: err.message }, 'outbound connection failed');
            break;
          }
          this.active.add(client);
          try {
            const results: RemoteResult[] = [];
            // RFC 5321 §4.5.3.1.8: servers need take only 100 recipients per transaction
            for (let i = 0; i < rcpts.length; i += MAX_RCPTS_PER_TRANSACTION) {
              results.push(...(await this.transaction(client, msg, content, rcpts.slice(i, i + MAX_RCPTS_PER_TRANSACTION), host.name)));
            }
            this.active.delete(client);
            this.pool.put(key, client);
            return results;
          } catch (err) {
            this.active.delete(client);
            client.close();
            if (!(err instanceof SmtpConnectionError)) throw err;
            if (reused && !client.dataStarted) continue;
            // RFC 5321 §3.8: a connection lost mid-transaction: not delivered; retry later
            this.deps.logger.info({ queueId: msg.id, host: host.name, err: err.message }, 'outbound delivery interrupted');
            return all('deferred', '4.4.2', `451 4.4.2 ${err.message}`, host.name);
          }
        }
      }
    }
    return all('deferred', lastStatus, lastError);
  }

  private async transaction(client: SmtpClient, msg: QueuedMessage, content: Content, rcpts: QueuedRecipient[], mta: string): Promise<RemoteResult[]> {
    const ext = client.extensions;
    const all = (state: 'deferred' | 'bounced', status: string, reply: string): RemoteResult[] =>
      rcpts.map((r) => ({ idx: r.idx, state, status, reply, remoteMta: mta }));
    if (msg.needsUtf8 && !ext.has('SMTPUTF8')) {
      // RFC 6531 §3.2: a message that needs SMTPUTF8 cannot go to a server that lacks it
      return all('bounced', '5.6.7', `553 5.6.7 ${mta} does not support SMTPUTF8, which this message needs`);
    }
    if (msg.requireTls && !client.secure) {
      // RFC 8689 §4.2.1: REQUIRETLS mail never travels unencrypted
      return all('bounced', '5.7.30', `550 5.7.30 REQUIRETLS: ${mta} offers no TLS`);
    }
    const binary = msg.body === 'BINARYMIME';
    if (binary && !(ext.has('CHUNKING') && ext.has('BINARYMIME'))) {
      // RFC 3030 §3: BINARYMIME content goes only to a server that offers BINARYMIME (and CHUNKING)
      return all('bounced', '5.6.3', `554 5.6.3 ${mta} does not accept BINARYMIME, which this message needs`);
    }
    const sizeLimit = Number(ext.get('SIZE') ?? '0');
    if (ext.has('SIZE') && sizeLimit > 0 && content.size > sizeLimit) {
      // RFC 1870 §6.1: do not send a message larger than the server's declared SIZE
      return all('bounced', '5.3.4', `552 5.3.4 message size ${content.size} exceeds the fixed limit ${sizeLimit} of ${mta}`);
    }
    const mailParams: string[] = [];
    if (ext.has('SIZE')) mailParams.push(`SIZE=${content.size}`);
    if (msg.body === '8BITMIME' && ext.has('8BITMIME')) mailParams.push('BODY=8BITMIME');
    if (binary) mailParams.push('BODY=BINARYMIME');
    if (msg.needsUtf8) mailParams.push('SMTPUTF8');
    if (msg.requireTls && ext.has('REQUIRETLS')) mailParams.push('REQUIRETLS');
    const dsn = ext.has('DSN');
    // RFC 3461 §4: DSN parameters travel on when the next server offers DSN
    if (dsn && msg.ret) mailParams.push(`RET=${msg.ret}`);
    if (dsn && msg.envid) mailParams.push(`ENVID=${xtext(msg.envid)}`);
    const recipients = rcpts.map((r) => {
      const params: string[] = [];
      if (dsn && r.notify?.length) params.push(`NOTIFY=${r.notify.join(',')}`);
      if (dsn && r.orcpt) params.push(`ORCPT=${r.orcpt.type};${xtext(r.orcpt.address)}`);
      return { address: r.address, params };
    });

    let prefix = '';
    if (this.deps.signer) {
      prefix = await this.deps.signer.sign({
        from: msg.from,
        headerFromDomain: msg.headerFromDomain,
        message: () => content.open().pipe(new DataEncoder({ terminate: false })),
      });
    }
    const res = await client.send({
      from: msg.from,
      mailParams,
      recipients,
      prefix,
      message: () => content.open(),
      ...(binary ? { bdatSize: content.size } : {}),
    });
    // debug: the scheduler logs each recipient's outcome ("queue delivery") with the reply that decided it
    if (this.deps.logger.isLevelEnabled('debug')) {
      this.deps.logger.debug(
        { queueId: msg.id, mta, mail: res.mail.code, rcpts: res.rcpts.map((r) => r?.code ?? null), data: res.data ? replyText(res.data) : null },
        'outbound transaction',
      );
    }
    const out: RemoteResult[] = [];
    rcpts.forEach((r, i) => {
      // RFC 5321 §4.2.1: 2yz done, 4yz try again later, 5yz do not repeat
      const reply = res.rcpts[i] ?? res.mail;
      if (reply.code >= 300) {
        const f = fromReply(reply, reply.code >= 500 ? '5.0.0' : '4.0.0');
        out.push({ idx: r.idx, state: reply.code >= 500 ? 'bounced' : 'deferred', ...f, remoteMta: mta });
        return;
      }
      const d = res.data;
      if (!d) {
        out.push({ idx: r.idx, state: 'deferred', status: '4.4.2', reply: '451 4.4.2 no data reply', remoteMta: mta });
        return;
      }
      const f = fromReply(d, d.code >= 500 ? '5.0.0' : '4.0.0');
      if (d.code >= 200 && d.code < 300) out.push({ idx: r.idx, state: 'delivered', ...f, remoteMta: mta, dsnAction: dsn ? null : 'relayed' });
      else out.push({ idx: r.idx, state: d.code >= 500 ? 'bounced' : 'deferred', ...f, remoteMta: mta });
    });
    return out;
  }
}
