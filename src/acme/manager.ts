// Automatic certificates (RFC 8555) with acme-client: one certificate per name (names.ts), kept
// in data_dir/tls/acme (files.ts) and installed into the TLS provider, which every TLS listener
// asks at each handshake, so a new certificate is used without a restart.
//
// Schedule: a name is ordered when it has no certificate or has reached two thirds of its
// lifetime (acme-client 5.4 has no ARI/renewalInfo). A failed order keeps the old certificate
// in service, logs the CA's error and is retried after [acme] retry, doubling up to a day.
// Names and DNS are looked at again every hour and on SIGHUP (recheck()).
import https from 'node:https';
import tls from 'node:tls';
import { readFile } from 'node:fs/promises';
import { generateKeyPairSync } from 'node:crypto';
import acme from 'acme-client';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Resolver } from '../dns/resolver.js';
import type { TlsProvider } from '../net/tls.js';
import type { AcmeChallenges } from '../http/acme-challenges.js';
import type { AlpnChallenges } from './alpn.js';
import { accountKeyPath, loadCerts, parseStored, renewalTime, saveCert, saveStatus, writeAtomic, type NameStatus, type StoredCert } from './files.js';
import { checkName, serverAddresses, wantedNames } from './names.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** setTimeout's longest delay. */
const MAX_TIMER = 2 ** 31 - 1;

export interface AcmeManagerOptions {
  config: Config;
  logger: Logger;
  resolver: Resolver;
  tls: TlsProvider;
  /** http-01 tokens (answered by the http listener). */
  challenges: AcmeChallenges;
  /** tls-alpn-01 certificates (answered by the https listener). */
  alpn: AlpnChallenges;
  /** The local domains (the store). */
  domains(): Promise<string[]>;
  /** "ip:port" of every bound listener. */
  boundAddresses(): string[];
  now?: () => number;
}

export interface AcmeManager {
  /** Installs the stored certificates, then checks names and orders what is missing (in the background). */
  start(): Promise<void>;
  /** Looks at names, DNS and renewals now (SIGHUP, a new domain). */
  recheck(): void;
  /** Resolves after the run in progress (if any) has finished. */
  idle(): Promise<void>;
  stop(): Promise<void>;
  /** The state of every name, as in status.json. */
  status(): NameStatus[];
}

interface Failure {
  count: number;
  next: number;
  reason: string;
}

/** acme-client's HTTP settings are process-wide (its axios instance): trust, timeouts, retries. */
async function configureHttp(config: Config): Promise<void> {
  const extra = config.acme.ca_file ? await readFile(config.acme.ca_file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`acme.ca_file: cannot read ${config.acme.ca_file} (${err.code ?? err.message})`);
  }) : null;
  acme.axios.defaults.httpsAgent = new https.Agent({ ca: extra ? [...tls.rootCertificates, extra] : undefined, keepAlive: false });
  acme.axios.defaults.timeout = 30_000;
  // Failed requests are retried by our own schedule (with back-off), not inside one order.
  (acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } }).acmeSettings.retryMaxAttempts = 0;
  if (!networkErrorsWrapped) {
    networkErrorsWrapped = true;
    // acme-client's retry interceptor turns an error without a response (connection refused, a
    // timeout) into "Cannot read properties of undefined (reading 'config')" once retries are
    // spent. This handler runs first and passes on a plain error naming the cause and the URL
    // (no `config`, so acme-client's handler rejects it unchanged).
    const handlers = (acme.axios.interceptors.response as unknown as { handlers: Array<{ fulfilled: unknown; rejected: unknown; synchronous: boolean; runWhen: null }> }).handlers;
    handlers.unshift({
      fulfilled: null,
      rejected: (err: { response?: unknown; code?: string; message?: string; config?: { url?: string; method?: string } }) => {
        if (err.response) return Promise.reject(err);
        return Promise.reject(new Error(`${err.config?.method?.toUpperCase() ?? 'request'} ${err.config?.url ?? ''}: ${err.code ?? ''} ${err.message ?? ''}`.replace(/\s+/g, ' ').trim()));
      },
      synchronous: false,
      runWhen: null,
    });
  }
}
let networkErrorsWrapped = false;

export function createAcmeManager(opts: AcmeManagerOptions): AcmeManager {
  const { config } = opts;
  const log = opts.logger.child({ component: 'acme' });
  const now = opts.now ?? Date.now;
  const certs = new Map<string, StoredCert>();
  const failures = new Map<string, Failure>();
  const skipped = new Map<string, string>();
  let statuses: NameStatus[] = [];
  let client: acme.Client | null = null;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;

  acme.setLogger((msg) => log.debug({ acme: msg }, 'acme-client'));

  async function getClient(): Promise<acme.Client> {
    if (client) return client;
    await configureHttp(config);
    const path = accountKeyPath(config.data_dir);
    let accountKey = await readFile(path, 'utf8').catch(() => null);
    if (!accountKey) {
      accountKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      await writeAtomic(path, accountKey, 0o600);
      log.info({ path }, 'ACME account key created');
    }
    client = new acme.Client({ directoryUrl: config.acme.directory, accountKey, backoffMin: 1000, backoffMax: 30_000, backoffAttempts: 10 });
    return client;
  }

  /** Orders a certificate for one name; throws with the CA's error. */
  async function order(name: string): Promise<StoredCert> {
    const c = await getClient();
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const [, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] }, key);
    const type = config.acme.challenge;
    const chain = await c.auto({
      csr,
      email: config.acme.email || undefined,
      termsOfServiceAgreed: true,
      challengePriority: [type],
      // The CA checks; acme-client's own pre-check would ask the system DNS and port 80/443.
      skipChallengeVerification: true,
      challengeCreateFn: async (authz, challenge, keyAuthorization) => {
        if (challenge.type !== type) throw new Error(`the CA does not offer ${type} for ${authz.identifier.value} (offered: ${authz.challenges.map((x) => x.type).join(', ')})`);
        if (type === 'http-01') opts.challenges.set(challenge.token, keyAuthorization);
        else {
          // RFC 8737 §3: a self-signed certificate for the name with the acmeIdentifier extension.
          const [k, crt] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization);
          opts.alpn.set(authz.identifier.value, crt.toString(), k.toString());
        }
      },
      challengeRemoveFn: async (authz, challenge) => {
        if (challenge.type === 'http-01') opts.challenges.delete(challenge.token);
        else opts.alpn.delete(authz.identifier.value);
      },
    });
    const stored = parseStored(name, `order for ${name}`, `${key}\n${chain}`);
    opts.tls.setManaged(name, { cert: stored.cert, key: stored.key }); // throws on an unusable chain, before saving
    await saveCert(config.data_dir, name, stored.key, stored.cert);
    return stored;
  }

  function retryDelay(count: number): number {
    return Math.min(config.acme.retry * 2 ** (count - 1), DAY);
  }

  async function run(): Promise<void> {
    const t0 = now();
    let next = t0 + HOUR;
    const names = wantedNames(config.hostname, await opts.domains());
    const addresses = serverAddresses(config, opts.boundAddresses());
    const out: NameStatus[] = [];
    for (const name of names) {
      if (stopped) return;
      const have = certs.get(name);
      const renewAt = have ? renewalTime(have.leaf).getTime() : 0;
      const issued = (c: StoredCert): NameStatus => ({
        name,
        state: 'issued',
        issuer: c.leaf.issuer.replace(/\n/g, ', '),
        expires: new Date(c.leaf.validTo).toISOString(),
        renewAt: renewalTime(c.leaf).toISOString(),
      });
      if (have && now() < renewAt) {
        out.push(issued(have));
        next = Math.min(next, renewAt);
        continue;
      }
      const failed = failures.get(name);
      if (failed && now() < failed.next) {
        out.push({ ...(have ? issued(have) : { name }), state: 'failed', reason: failed.reason, nextAttempt: new Date(failed.next).toISOString() });
        next = Math.min(next, failed.next);
        continue;
      }
      const dns = await checkName(opts.resolver, name, addresses);
      if (!dns.ok) {
        if (skipped.get(name) !== dns.reason) log.warn({ name, reason: dns.reason }, 'ACME: name skipped (DNS does not point it at this server)');
        skipped.set(name, dns.reason);
        out.push({ ...(have ? issued(have) : { name }), state: 'skipped', reason: dns.reason });
        continue;
      }
      skipped.delete(name);
      log.info({ name, renewal: Boolean(have), challenge: config.acme.challenge, directory: config.acme.directory }, have ? 'ACME: renewing certificate' : 'ACME: ordering certificate');
      try {
        const got = await order(name);
        certs.set(name, got);
        failures.delete(name);
        log.info({ name, issuer: got.leaf.issuer.replace(/\n/g, ', '), validTo: got.leaf.validTo, serial: got.leaf.serialNumber }, 'ACME: certificate obtained');
        out.push(issued(got));
        next = Math.min(next, renewalTime(got.leaf).getTime());
      } catch (err) {
        // The next attempt starts with a fresh client: the account is looked up (or made) again,
        // which also recovers from a CA that forgot it.
        client = null;
        const count = (failed?.count ?? 0) + 1;
        const reason = (err as Error).message;
        const at = now() + retryDelay(count);
        failures.set(name, { count, next: at, reason });
        log.error({ name, err: reason, attempt: count, retryAt: new Date(at).toISOString(), keeping: have ? have.leaf.validTo : null }, have ? 'ACME: renewal failed; keeping the current certificate' : 'ACME: order failed');
        out.push({ ...(have ? issued(have) : { name }), state: 'failed', reason, nextAttempt: new Date(at).toISOString() });
        next = Math.min(next, at);
      }
    }
    // Names no longer wanted (a removed domain) stop being served; their files stay.
    for (const name of certs.keys())
      if (!names.includes(name)) {
        opts.tls.setManaged(name, null);
        certs.delete(name);
      }
    statuses = out;
    await saveStatus(config.data_dir, { updated: new Date(now()).toISOString(), directory: config.acme.directory, challenge: config.acme.challenge, addresses, names: out }).catch((err: Error) =>
      log.warn({ err: err.message }, 'ACME: cannot write status.json'),
    );
    schedule(next - now());
  }

  function schedule(ms: number): void {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(kick, Math.max(0, Math.min(ms, MAX_TIMER)));
    timer.unref();
  }

  function kick(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = run()
      .catch((err: Error) => {
        log.error({ err: err.message }, 'ACME: run failed');
        schedule(config.acme.retry);
      })
      .finally(() => {
        running = null;
        if (again && !stopped) {
          again = false;
          kick();
        }
      });
  }

  return {
    async start() {
      for (const c of await loadCerts(config.data_dir, (path, err) => log.warn({ path, err: err.message }, 'ACME: stored certificate unusable; it will be ordered again'))) {
        try {
          opts.tls.setManaged(c.name, { cert: c.cert, key: c.key });
          certs.set(c.name, c);
        } catch (err) {
          log.warn({ name: c.name, err: (err as Error).message }, 'ACME: stored certificate unusable; it will be ordered again');
        }
      }
      log.info({ directory: config.acme.directory, challenge: config.acme.challenge, stored: [...certs.keys()] }, 'ACME enabled');
      kick();
    },
    recheck() {
      failures.clear();
      kick();
    },
    async idle() {
      while (running) await running;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      // An order in flight is abandoned after a short wait (it may be polling the CA for minutes).
      let t: NodeJS.Timeout | undefined;
      await Promise.race([running, new Promise<void>((r) => (t = setTimeout(r, 2000)))]);
      clearTimeout(t);
    },
    status: () => statuses,
  };
}
