// The web face (DESIGN.md src/http): three Hono apps on their own listeners.
//   http   ACME http-01 challenges and Thunderbird autoconfig; everything else redirects to https.
//   https  autoconfig, autodiscover, mobileconfig, the MTA-STS policy (by Host); TLS from the same
//          provider as the mail listeners, so a new certificate is used without a restart.
//   admin  /metrics, /healthz, /readyz and /api/v1/... (routes added by adminRoutes); loopback only.
// Routes live in routes/*.ts, one file per concern, each exporting register(app, deps).
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { Hono } from 'hono';
import { getRequestListener } from '@hono/node-server';
import { HTTP_LISTENER_NAMES, parseListenAddress, type HttpListenerName } from '../config/schema.js';
import type { TlsProvider } from '../net/tls.js';
import type { HttpDeps } from './deps.js';
import { readClientHello } from '../net/client-hello.js';
import { ACME_TLS_ALPN } from '../acme/alpn.js';
import * as acmeChallenge from './routes/acme-challenge.js';
import * as autoconfig from './routes/autoconfig.js';
import * as autodiscover from './routes/autodiscover.js';
import * as mobileconfig from './routes/mobileconfig.js';
import * as mtaSts from './routes/mta-sts.js';
import * as health from './routes/health.js';
import * as metrics from './routes/metrics.js';

/** A route module: adds its routes to an app. */
export type RouteRegistrar = (app: Hono, deps: HttpDeps) => void;

export interface HttpApps {
  http: Hono;
  https: Hono;
  admin: Hono;
}

export interface CreateAppsOptions {
  /** Routes of the admin API, mounted under /api/v1 on the admin listener. */
  adminRoutes?: RouteRegistrar[];
  /** The https listener's bound port, for redirects (443 is left out of the URL). */
  httpsPort(): number | null;
}

/** A Host header value safe to put in a redirect (a DNS name or IP literal, optional port), lower case. */
function redirectHost(host: string | undefined): string | null {
  const h = (host ?? '').toLowerCase().replace(/:\d{1,5}$/, '');
  return /^(?:[a-z0-9](?:[a-z0-9-]{0,62})(?:\.[a-z0-9](?:[a-z0-9-]{0,62}))*|\[[0-9a-f:.]+\])$/.test(h) ? h : null;
}

export function createApps(deps: HttpDeps, opts: CreateAppsOptions): HttpApps {
  const notFound = (app: Hono) => app.notFound((c) => c.text('not found\n', 404));
  const onError = (app: Hono) =>
    app.onError((err, c) => {
      deps.logger.error({ err, path: c.req.path }, 'http: request failed');
      return c.text('internal error\n', 500);
    });

  // http: only what must work without TLS; the rest is sent to https.
  const plain = new Hono();
  acmeChallenge.register(plain, deps);
  autoconfig.register(plain, deps);
  plain.all('*', (c) => {
    const host = redirectHost(c.req.header('host')) ?? deps.config.hostname;
    const port = opts.httpsPort();
    if (!port) return c.text('no https listener\n', 404);
    const url = new URL(c.req.url);
    // 308 keeps the method and body (an autodiscover POST stays a POST); GET clients treat it as 301.
    return c.redirect(`https://${host}${port === 443 ? '' : `:${port}`}${url.pathname}${url.search}`, 308);
  });
  onError(plain);

  const secure = new Hono();
  autoconfig.register(secure, deps);
  autodiscover.register(secure, deps);
  mobileconfig.register(secure, deps);
  mtaSts.register(secure, deps);
  notFound(secure);
  onError(secure);

  const admin = new Hono();
  health.register(admin, deps);
  metrics.register(admin, deps);
  const api = new Hono();
  for (const add of opts.adminRoutes ?? []) add(api, deps);
  notFound(api);
  admin.route('/api/v1', api);
  notFound(admin);
  onError(admin);

  return { http: plain, https: secure, admin };
}

/** 127.0.0.0/8 and ::1 (also as IPv4-mapped). */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^::ffff:/, '');
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::1' || h === '0:0:0:0:0:0:0:1';
}

/**
 * The admin listener has no TLS of its own and carries metrics and (with the admin API) bearer
 * tokens, so it binds only to loopback; anything else is refused at start.
 */
export function checkAdminAddresses(specs: readonly string[]): void {
  for (const spec of specs) {
    const addr = parseListenAddress(spec);
    if (addr && !isLoopback(addr.host))
      throw new Error(
        `listen.admin: ${spec} is not a loopback address; the admin listener is plain HTTP and binds only to 127.0.0.0/8 or [::1] (reach it remotely through an SSH tunnel or a TLS reverse proxy)`,
      );
  }
}

export interface HttpListeners {
  addresses: Record<HttpListenerName, string[]>;
  /** Stops accepting, lets requests in flight finish up to graceMs, then closes the rest. */
  close(graceMs: number): Promise<void>;
}

export interface StartHttpOptions {
  deps: HttpDeps;
  tls: TlsProvider;
  adminRoutes?: RouteRegistrar[];
  /** tls-alpn-01 challenge certificates (RFC 8737) the https listener serves to "acme-tls/1" clients (src/acme/alpn.ts). */
  alpnChallenges?: { pending(): boolean; context(servername: string): tls.SecureContext | undefined };
}

const formatAddress = (a: net.AddressInfo) => (a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);

export async function startHttp(opts: StartHttpOptions): Promise<HttpListeners> {
  const { deps } = opts;
  const { config } = deps;
  const log = deps.logger.child({ component: 'http' });
  checkAdminAddresses(config.listen.admin);
  const addresses = Object.fromEntries(HTTP_LISTENER_NAMES.map((n) => [n, [] as string[]])) as Record<HttpListenerName, string[]>;
  const httpsPort = () => {
    const a = addresses.https[0];
    return a ? Number(/:(\d+)$/.exec(a)![1]) : null;
  };
  const apps = createApps(deps, { adminRoutes: opts.adminRoutes, httpsPort });
  const servers: Array<{ name: HttpListenerName; http: http.Server; outer: net.Server }> = [];
  const handshaking = new Set<net.Socket>();

  const makeServer = (name: HttpListenerName): { http: http.Server; outer: net.Server } => {
    const server = http.createServer(
      { requestTimeout: 30_000, headersTimeout: 20_000, keepAliveTimeout: 5_000 },
      getRequestListener(apps[name].fetch),
    );
    // Idle sockets (keep-alive, or a client that stops mid-request) are closed after a minute.
    server.timeout = 60_000;
    server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
      log.debug({ listener: name, err: err.code ?? err.message }, 'http client error');
      if (socket.writable && !socket.writableEnded) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    const count = (socket: net.Socket) => {
      deps.metrics.connectionOpened(name);
      socket.once('close', () => deps.metrics.connectionClosed(name));
    };
    if (name !== 'https') {
      server.on('connection', count);
      server.maxConnections = config.limits.max_connections;
      return { http: server, outer: server };
    }
    // https: each connection is wrapped here with the provider's current context (chosen by SNI),
    // so a reloaded or renewed certificate is used by the next handshake.
    const outer = net.createServer({ pauseOnConnect: false }, async (raw) => {
      count(raw);
      handshaking.add(raw);
      raw.once('close', () => handshaking.delete(raw));
      // the ClientHello first: its SNI name chooses the certificate (readClientHello)
      const started = Date.now();
      const hello = await readClientHello(raw, config.limits.tls_handshake_timeout);
      if (hello === 'gone') {
        raw.destroy();
        return;
      }
      // RFC 8737 §3: a validation offers ALPN "acme-tls/1" and expects the challenge certificate
      // for the SNI name.
      const alpn = opts.alpnChallenges;
      if (alpn?.pending()) {
        const challenge = hello?.servername && hello.alpn.includes(ACME_TLS_ALPN) ? alpn.context(hello.servername) : undefined;
        if (challenge) {
          const v = new tls.TLSSocket(raw, { isServer: true, secureContext: challenge, ALPNProtocols: [ACME_TLS_ALPN] });
          const t = setTimeout(() => v.destroy(), config.limits.tls_handshake_timeout);
          t.unref();
          // RFC 8737 §3: after the handshake the client sends nothing and closes.
          v.once('secure', () => v.end());
          v.on('error', () => v.destroy());
          v.once('close', () => clearTimeout(t));
          return;
        }
      }
      const secure = new tls.TLSSocket(raw, {
        isServer: true,
        secureContext: opts.tls.secureContext(hello?.servername ?? undefined),
        SNICallback: opts.tls.sniCallback,
        ALPNProtocols: ['http/1.1'],
      });
      // the handshake's time limit counts from the connection (the ClientHello's wait included)
      const timer = setTimeout(() => secure.destroy(), Math.max(1, config.limits.tls_handshake_timeout - (Date.now() - started)));
      timer.unref();
      secure.once('secure', () => {
        clearTimeout(timer);
        handshaking.delete(raw);
      });
      secure.on('error', (err: NodeJS.ErrnoException) => {
        log.debug({ listener: name, err: err.code ?? err.message }, 'TLS handshake failed');
        secure.destroy();
      });
      raw.once('close', () => {
        clearTimeout(timer);
        handshaking.delete(raw);
      });
      server.emit('connection', secure);
    });
    outer.maxConnections = config.limits.max_connections;
    return { http: server, outer };
  };

  const closeAll = () => Promise.all(servers.map((s) => new Promise<void>((r) => s.outer.close(() => r()))));
  try {
    for (const name of HTTP_LISTENER_NAMES) {
      for (const spec of config.listen[name]) {
        const addr = parseListenAddress(spec);
        if (!addr) throw new Error(`listen.${name}: bad address "${spec}"`);
        const s = makeServer(name);
        await new Promise<void>((resolve, reject) => {
          const onError = (err: NodeJS.ErrnoException) => reject(new Error(`listen.${name}: cannot listen on ${spec} (${err.code ?? err.message})`));
          s.outer.once('error', onError);
          s.outer.listen({ host: addr.host, port: addr.port, exclusive: true }, () => {
            s.outer.removeListener('error', onError);
            resolve();
          });
        });
        s.outer.on('error', (err) => log.error({ listener: name, err }, 'listener error'));
        servers.push({ name, ...s });
        addresses[name].push(formatAddress(s.outer.address() as net.AddressInfo));
      }
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  log.info({ addresses }, 'http listening');

  let closing: Promise<void> | null = null;
  return {
    addresses,
    close(graceMs) {
      closing ??= (async () => {
        const closed = closeAll();
        for (const s of handshaking) s.destroy();
        for (const s of servers) s.http.closeIdleConnections();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([closed, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
        clearTimeout(timer);
        for (const s of servers) s.http.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}
