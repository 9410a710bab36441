// The admin API's routes as data: each names its method, path, the operation's input schema (the
// one the CLI validates with, from src/admin) and where each input field comes from (path, query,
// JSON body). index.ts registers them on Hono and openapi.ts describes them from the same table,
// so the document cannot drift from what the routes validate.
import type { z } from 'zod';
import type { Config } from '../../config/schema.js';
import type { Store } from '../../store/types.js';
import type { Logger } from '../../log/logger.js';
import type { Resolver } from '../../dns/resolver.js';
import { addDomain, DomainInput, listDomains, removeDomain } from '../../admin/domains.js';
import { createUser, DomainFilterInput, listUsers, removeUser, setUserPassword, setUserQuota, showUser, UserAddressInput, UserCreateInput, UserPasswordInput, UserQuotaInput } from '../../admin/users.js';
import { addAlias, AliasAddressInput, AliasCreateInput, AliasFilterInput, listAliases, removeAlias } from '../../admin/aliases.js';
import { bounceQueued, deleteQueued, holdQueued, listQueue, QueueIdInput, releaseQueued, retryQueued, showQueued, type QueueAdmin } from '../../admin/queue.js';
import { DkimDomainInput, DkimRetireInput, generateDkimKeys, listDkimKeys, retireDkimKey, rotateDkimKeys } from '../../admin/dkim.js';
import { checkDnsRecords, DnsRecordsInput, statusWord } from '../../admin/dns-records.js';
import { tlsStatus, type AcmeStatusSource, type CertificateSource } from '../../admin/tls.js';

/** What the API's operations work on: the running server's store, queue and certificates. */
export interface ApiDeps {
  config: Config;
  store: Store;
  queue: QueueAdmin;
  tls: CertificateSource;
  /** The ACME manager, read at each call (it is made after the listeners start); absent or null when ACME is off. */
  acme?: () => AcmeStatusSource | null;
  logger: Logger;
  /** For dns-records (default: a resolver on [dns] servers). */
  resolver?: Resolver;
}

export interface ApiRoute {
  method: 'get' | 'post' | 'put' | 'delete';
  /** OpenAPI form, relative to /api/v1: "/users/{address}". */
  path: string;
  tag: 'domains' | 'users' | 'aliases' | 'queue' | 'dkim' | 'dns' | 'tls';
  summary: string;
  /** The operation's input schema (a strict object); absent for operations without input. */
  input?: z.ZodObject;
  /** Input fields taken from the query string (the path's {names} come from the path; the rest from the JSON body). */
  query?: string[];
  /** 201 for creations. */
  status?: 200 | 201;
  /** A valid body, for the document (and the tests). */
  example?: Record<string, unknown>;
  run(deps: ApiDeps, input: Record<string, unknown>): unknown;
}

/** Names of the path parameters of a route ("/users/{address}/quota" -> ["address"]). */
export function pathParams(path: string): string[] {
  return [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
}

/** The input fields a route takes from the JSON body. */
export function bodyFields(route: ApiRoute): string[] {
  if (!route.input) return [];
  const elsewhere = new Set([...pathParams(route.path), ...(route.query ?? [])]);
  return Object.keys(route.input.shape).filter((k) => !elsewhere.has(k));
}

type In<S extends z.ZodType> = z.input<S>;

export const API_ROUTES: ApiRoute[] = [
  // Domains
  { method: 'get', path: '/domains', tag: 'domains', summary: 'List the local domains', run: (d) => listDomains(d.store) },
  {
    method: 'post',
    path: '/domains',
    tag: 'domains',
    summary: 'Add a local domain (its first DKIM keys are made at once)',
    input: DomainInput,
    status: 201,
    example: { domain: 'example.com' },
    run: (d, i) => addDomain(d.config, d.store, i as In<typeof DomainInput>),
  },
  { method: 'delete', path: '/domains/{domain}', tag: 'domains', summary: 'Remove a local domain (it must have no users or aliases left)', input: DomainInput, run: (d, i) => removeDomain(d.store, i as In<typeof DomainInput>) },

  // Users
  { method: 'get', path: '/users', tag: 'users', summary: 'List accounts, of one domain or all', input: DomainFilterInput, query: ['domain'], run: (d, i) => listUsers(d.store, i as In<typeof DomainFilterInput>) },
  {
    method: 'post',
    path: '/users',
    tag: 'users',
    summary: 'Create an account with a password (its domain must exist)',
    input: UserCreateInput,
    status: 201,
    example: { address: 'alice@example.com', password: 'correct horse battery staple', quota: '2G' },
    run: (d, i) => createUser(d.store, i as In<typeof UserCreateInput>),
  },
  { method: 'get', path: '/users/{address}', tag: 'users', summary: 'Show usage, quota and mailboxes of an account', input: UserAddressInput, run: (d, i) => showUser(d.store, i as In<typeof UserAddressInput>) },
  {
    method: 'put',
    path: '/users/{address}/password',
    tag: 'users',
    summary: "Change an account's password",
    input: UserPasswordInput,
    example: { password: 'a new passphrase' },
    run: (d, i) => setUserPassword(d.store, i as In<typeof UserPasswordInput>),
  },
  { method: 'put', path: '/users/{address}/quota', tag: 'users', summary: "Set an account's quota (0 = unlimited)", input: UserQuotaInput, example: { quota: '500M' }, run: (d, i) => setUserQuota(d.store, i as In<typeof UserQuotaInput>) },
  { method: 'delete', path: '/users/{address}', tag: 'users', summary: 'Remove an account with all its mailboxes and mail', input: UserAddressInput, run: (d, i) => removeUser(d.store, i as In<typeof UserAddressInput>) },

  // Aliases
  { method: 'get', path: '/aliases', tag: 'aliases', summary: 'List aliases, of one domain or all', input: AliasFilterInput, query: ['domain'], run: (d, i) => listAliases(d.store, i as In<typeof AliasFilterInput>) },
  {
    method: 'post',
    path: '/aliases',
    tag: 'aliases',
    summary: 'Add an alias delivering to local or remote addresses ("@domain" is a catch-all)',
    input: AliasCreateInput,
    status: 201,
    example: { address: 'sales@example.com', targets: ['alice@example.com', 'bob@example.org'] },
    run: (d, i) => addAlias(d.store, i as In<typeof AliasCreateInput>),
  },
  { method: 'delete', path: '/aliases/{address}', tag: 'aliases', summary: 'Remove an alias', input: AliasAddressInput, run: (d, i) => removeAlias(d.store, i as In<typeof AliasAddressInput>) },

  // Queue
  { method: 'get', path: '/queue', tag: 'queue', summary: 'List the outbound queue', run: (d) => listQueue(d.queue) },
  { method: 'post', path: '/queue/retry', tag: 'queue', summary: 'Make the pending recipients of every message due now', run: (d) => retryQueued(d.queue, { id: null }) },
  { method: 'get', path: '/queue/{id}', tag: 'queue', summary: 'Show one message: envelope, DSN parameters, each recipient with its state and last reply', input: QueueIdInput, run: (d, i) => showQueued(d.queue, i as In<typeof QueueIdInput>) },
  { method: 'post', path: '/queue/{id}/retry', tag: 'queue', summary: "Make a message's pending recipients due now", input: QueueIdInput, run: (d, i) => retryQueued(d.queue, i as In<typeof QueueIdInput>) },
  { method: 'post', path: '/queue/{id}/hold', tag: 'queue', summary: 'Keep a message in the queue without trying to deliver it', input: QueueIdInput, run: (d, i) => holdQueued(d.queue, i as In<typeof QueueIdInput>) },
  { method: 'post', path: '/queue/{id}/release', tag: 'queue', summary: 'Deliver a held message again', input: QueueIdInput, run: (d, i) => releaseQueued(d.queue, i as In<typeof QueueIdInput>) },
  { method: 'post', path: '/queue/{id}/bounce', tag: 'queue', summary: 'Give up on a message now: its pending recipients fail and the sender gets a DSN', input: QueueIdInput, run: (d, i) => bounceQueued(d.queue, i as In<typeof QueueIdInput>) },
  { method: 'delete', path: '/queue/{id}', tag: 'queue', summary: 'Remove a message from the queue silently (POST .../bounce notifies the sender)', input: QueueIdInput, run: (d, i) => deleteQueued(d.queue, i as In<typeof QueueIdInput>) },

  // DKIM
  { method: 'get', path: '/domains/{domain}/dkim', tag: 'dkim', summary: "List a domain's DKIM selectors and their TXT records", input: DkimDomainInput, run: (d, i) => listDkimKeys(d.config, d.store, i as In<typeof DkimDomainInput>) },
  { method: 'post', path: '/domains/{domain}/dkim', tag: 'dkim', summary: 'Create the first RSA-2048 and Ed25519 keys of a local domain', input: DkimDomainInput, status: 201, run: (d, i) => generateDkimKeys(d.config, d.store, i as In<typeof DkimDomainInput>) },
  {
    method: 'post',
    path: '/domains/{domain}/dkim/rotate',
    tag: 'dkim',
    summary: 'Add new RSA and Ed25519 selectors (the old ones keep signing until DNS has the new records)',
    input: DkimDomainInput,
    status: 201,
    run: (d, i) => rotateDkimKeys(d.config, d.store, i as In<typeof DkimDomainInput>),
  },
  { method: 'delete', path: '/domains/{domain}/dkim/{selector}', tag: 'dkim', summary: 'Retire an old selector after rotation', input: DkimRetireInput, run: (d, i) => retireDkimKey(d.config, d.store, i as In<typeof DkimRetireInput>) },

  // DNS records
  {
    method: 'get',
    path: '/domains/{domain}/dns-records',
    tag: 'dns',
    summary: 'The DNS records a local domain needs, each checked against DNS: ok, MISSING, WRONG (UNKNOWN when DNS did not answer)',
    input: DnsRecordsInput,
    async run(d, i) {
      const r = await checkDnsRecords(d.config, d.store, i as In<typeof DnsRecordsInput>, d.resolver);
      return { ...r, records: r.records.map((c) => ({ ...c, status: statusWord(c.status) })) };
    },
  },

  // TLS
  { method: 'get', path: '/tls', tag: 'tls', summary: 'The certificates the server presents (names, issuer, expiry, next ACME renewal) and the state of each name ACME manages', run: (d) => tlsStatus(d.tls, d.acme?.() ?? null) },
];
