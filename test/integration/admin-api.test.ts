// The admin API (/api/v1 on the admin listener, docs/api.md) over the real listener of a server
// started as a user starts it, with tokens made by `yubin api-token create`: every route with
// good and bad input (400 naming the field), missing/unknown/revoked tokens (401), and the
// OpenAPI document against the routes it describes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startYubin, type YubinInstance } from '../helpers/server.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { mailboxMessages } from '../helpers/mail.js';
import { QueueStore } from '../../src/queue/index.js';
import { API_ROUTES, bodyFields, pathParams } from '../../src/http/api/routes.js';
import { bodySchema, inputSchema } from '../../src/http/api/openapi.js';

let inst: YubinInstance;
let dns: TestDnsServer;
let token: string;
const queued: string[] = [];

before(async () => {
  dns = await startDnsServer();
  // Mail for remote.test cannot be delivered yet (DNS fails temporarily): it stays queued.
  dns.fail('remote.test', 'servfail');
  dns.setRecords('example.test', 'MX', ['10 mail.example.test']);
  const dir = mkdtempSync(join(tmpdir(), 'yubin-api-'));
  const q = new QueueStore(join(dir, 'data'));
  const now = Date.now();
  for (const to of ['bob@remote.test', 'carol@remote.test']) {
    const body = Buffer.from(`From: alice@example.test\r\nTo: ${to}\r\nSubject: api ${to}\r\n\r\nhello\r\n`);
    const id = await q.enqueueBytes(body, { from: 'alice@example.test', recipients: [{ address: to }], size: body.length, needsUtf8: false, headerFromDomain: 'example.test' }, now);
    // tried once; the next attempt is an hour away, so the scheduler leaves it alone during the test
    await q.record(id, [{ idx: 0, state: 'deferred', status: '4.4.3', reply: '451 4.4.3 DNS lookup failed', remoteMta: null, nextAttempt: now + 3_600_000 }], now);
    queued.push(id);
  }
  await q.close();
  inst = await startYubin({ dir, hostname: 'mail.example.test', domains: ['example.test'], users: [{ address: 'alice@example.test', password: 'alice-pw' }], config: { dns: { servers: [dns.address], timeout: 2000 } } });
  const made = await inst.cli(['api-token', 'create', 'ops']);
  assert.equal(made.code, 0, made.stderr);
  token = made.stdout.trim();
  assert.match(token, /^yubin_[A-Za-z0-9_-]{43}$/);
});

after(async () => {
  await inst?.destroy();
  await dns?.close();
});

const url = (path: string) => `http://${inst.host('admin')}:${inst.port('admin')}/api/v1${path}`;

async function call(method: string, path: string, body?: unknown, auth: string | null = token): Promise<{ status: number; type: string; json: any; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (auth !== null) headers.authorization = `Bearer ${auth}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url(path), { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', json: text ? JSON.parse(text) : null, headers: res.headers };
}

/** A 400 problem naming the field. */
function assertBad(r: Awaited<ReturnType<typeof call>>, field: string, detail?: RegExp): void {
  assert.equal(r.status, 400, JSON.stringify(r.json));
  assert.match(r.type, /^application\/problem\+json/);
  assert.equal(r.json.type, 'about:blank');
  assert.equal(r.json.title, 'Bad Request');
  assert.equal(r.json.status, 400);
  assert.equal(r.json.field, field, JSON.stringify(r.json));
  if (detail) assert.match(r.json.detail, detail);
}

function assertProblem(r: Awaited<ReturnType<typeof call>>, status: number, detail?: RegExp): void {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.match(r.type, /^application\/problem\+json/);
  assert.equal(r.json.status, status);
  assert.equal(typeof r.json.title, 'string');
  if (detail) assert.match(r.json.detail, detail);
}

test('every route refuses a missing, malformed, unknown or revoked token with 401 and WWW-Authenticate: Bearer', async () => {
  const other = (await inst.cli(['api-token', 'create', 'short-lived'])).stdout.trim();
  assert.equal((await call('GET', '/domains', undefined, other)).status, 200, 'the second token works');
  const revoked = await inst.cli(['api-token', 'revoke', 'short-lived']);
  assert.equal(revoked.stdout, 'API token short-lived revoked\n');
  const unknown = 'yubin_' + 'A'.repeat(43);
  for (const route of API_ROUTES) {
    const path = route.path.replace(/\{(\w+)\}/g, 'x');
    for (const [auth, invalid] of [[null, false], ['garbage', true], [unknown, true], [other, true]] as const) {
      const r = await call(route.method.toUpperCase(), path, undefined, auth);
      assertProblem(r, 401);
      assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer realm="yubin admin"/, `${route.method} ${route.path}`);
      assert.equal(/error="invalid_token"/.test(r.headers.get('www-authenticate') ?? ''), invalid);
    }
  }
  // Another scheme is no token either.
  const basic = await fetch(url('/domains'), { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } });
  assert.equal(basic.status, 401);
  // Nothing was done by the refused calls, and every call is logged with its token's name.
  const out = inst.output();
  assert.match(out, /"token":"short-lived"[^\n]*"msg":"api call"/);
  assert.match(out, /"msg":"api: refused \(no valid token\)"/);
});

test('api-token list shows name, created and last used; create refuses a taken or malformed name', async () => {
  const before = await inst.cli(['api-token', 'list']);
  assert.match(before.stdout, /^ops\tcreated \S+\tlast used never$/m);
  assert.equal((await call('GET', '/domains')).status, 200);
  const list = await inst.cli(['api-token', 'list']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^ops\tcreated \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\tlast used \d{4}-/m, 'ops has been used');
  assert.doesNotMatch(list.stdout, /short-lived/, 'revoked tokens are gone');
  const again = await inst.cli(['api-token', 'create', 'ops']);
  assert.equal(again.code, 1);
  assert.equal(again.stderr, 'yubin: an API token named ops exists already\n');
  const bad = await inst.cli(['api-token', 'create', 'no spaces']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^yubin: a token name is 1 to 64 letters/);
  const gone = await inst.cli(['api-token', 'revoke', 'nobody']);
  assert.equal(gone.stderr, 'yubin: no API token named nobody\n');
});

test('domains: list, add (with DKIM keys), remove; bad input names the field', async () => {
  assert.deepEqual((await call('GET', '/domains')).json.map((d: { name: string }) => d.name), ['example.test']);
  const added = await call('POST', '/domains', { domain: 'Other.Test.' });
  assert.equal(added.status, 201, JSON.stringify(added.json));
  assert.equal(added.json.domain, 'other.test');
  assert.equal(added.json.dkimSelectors.length, 2);
  assert.match(added.json.roleMailboxes, /postmaster@other\.test/);
  assert.deepEqual((await call('GET', '/domains')).json.map((d: { name: string }) => d.name), ['example.test', 'other.test']);
  assertProblem(await call('POST', '/domains', { domain: 'other.test' }), 409, /exists/);
  assertBad(await call('POST', '/domains', { domain: 'not a domain' }), 'domain', /^malformed domain: "not a domain"/);
  assertBad(await call('POST', '/domains', {}), 'domain');
  assertBad(await call('POST', '/domains', { domain: 5 }), 'domain');
  assertBad(await call('POST', '/domains', { domain: 'a.test', extra: 1 }), 'extra');
  assertProblem(await call('POST', '/domains', '{"domain": '), 400, /not valid JSON/);
  assertProblem(await call('POST', '/domains', '["a.test"]'), 400, /JSON object/);
  const text = await fetch(url('/domains'), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' }, body: 'domain=a.test' });
  assert.equal(text.status, 415);
  const huge = await call('POST', '/domains', { domain: 'a.test', pad: 'x'.repeat(70_000) });
  assertProblem(huge, 413);
  assertBad(await call('DELETE', '/domains/bad_domain!'), 'domain');
  assert.equal((await call('DELETE', '/domains/other.test')).status, 200);
  assertProblem(await call('DELETE', '/domains/other.test'), 404);
  // the CLI sees what the API did (the same store, the same operations)
  assert.equal((await inst.cli(['domain', 'list'])).stdout, 'example.test\n');
});

test('users: create with password and quota, list, show, passwd, quota, remove', async () => {
  const made = await call('POST', '/users', { address: 'Bob@Example.test', password: 'bob-secret', quota: '10M' });
  assert.equal(made.status, 201, JSON.stringify(made.json));
  assert.equal(made.json.address, 'bob@example.test');
  assert.equal(made.json.quota, 10 * 1024 * 1024);
  assert.deepEqual((await mailboxMessages(inst, 'bob@example.test', 'bob-secret')).length, 0, 'bob logs in with the password');
  assertProblem(await call('POST', '/users', { address: 'bob@example.test', password: 'x' }), 409);
  assertProblem(await call('POST', '/users', { address: 'zed@nowhere.test', password: 'x' }), 404);
  assertBad(await call('POST', '/users', { address: 'nope', password: 'x' }), 'address', /^malformed address: "nope"/);
  assertBad(await call('POST', '/users', { address: 'c@example.test' }), 'password');
  assertBad(await call('POST', '/users', { address: 'c@example.test', password: '' }), 'password', /the password is empty/);
  assertBad(await call('POST', '/users', { address: 'c@example.test', password: 'a\nb' }), 'password', /NUL, CR or LF/);
  assertBad(await call('POST', '/users', { address: 'c@example.test', password: 'x'.repeat(5000) }), 'password', /longer than 4096/);
  assertBad(await call('POST', '/users', { address: 'c@example.test', password: 'x', quota: 'lots' }), 'quota', /malformed size/);
  assertBad(await call('POST', '/users', { address: 'c@example.test', password: 'x', quota: -1 }), 'quota');
  assertBad(await call('POST', '/users', { address: 'c@example.test', password: 'x', quota: 1.5 }), 'quota');

  const list = await call('GET', '/users?domain=example.test');
  assert.deepEqual(list.json.map((u: { address: string }) => u.address), ['alice@example.test', 'bob@example.test']);
  assertBad(await call('GET', '/users?domain=%%%'), 'domain');
  assert.deepEqual((await call('GET', '/users')).json.length, 2);

  const show = await call('GET', '/users/bob@example.test');
  assert.equal(show.status, 200);
  assert.equal(show.json.quota, 10 * 1024 * 1024);
  assert.ok(show.json.mailboxes.some((m: { name: string }) => m.name === 'INBOX'));
  assertProblem(await call('GET', '/users/nobody@example.test'), 404, /no such user: nobody@example\.test/);
  assertBad(await call('GET', '/users/not-an-address'), 'address');

  assert.equal((await call('PUT', '/users/bob@example.test/password', { password: 'new-secret' })).status, 200);
  await mailboxMessages(inst, 'bob@example.test', 'new-secret');
  await assert.rejects(mailboxMessages(inst, 'bob@example.test', 'bob-secret'), 'the old password no longer works');
  assertBad(await call('PUT', '/users/bob@example.test/password', {}), 'password');
  assertBad(await call('PUT', '/users/bob@example.test/password', { password: 'x', address: 'alice@example.test' }), 'address', /not a field/);
  assertBad(await call('PUT', '/users/bad/password', { password: 'x' }), 'address');
  assertProblem(await call('PUT', '/users/nobody@example.test/password', { password: 'x' }), 404);

  const q = await call('PUT', '/users/bob@example.test/quota', { quota: 0 });
  assert.deepEqual(q.json, { address: 'bob@example.test', quota: 0 });
  assertBad(await call('PUT', '/users/bob@example.test/quota', {}), 'quota');
  assertBad(await call('PUT', '/users/bob@example.test/quota', { quota: '12Q' }), 'quota');
  assertBad(await call('PUT', '/users/x/quota', { quota: 1 }), 'address');

  assert.equal((await call('DELETE', '/users/bob@example.test')).status, 200);
  assertProblem(await call('DELETE', '/users/bob@example.test'), 404);
  assertBad(await call('DELETE', '/users/@@'), 'address');
});

test('aliases: add (also a catch-all), list, remove', async () => {
  const made = await call('POST', '/aliases', { address: 'Sales@example.test', targets: ['alice@example.test', 'Ext@remote.test'] });
  assert.equal(made.status, 201, JSON.stringify(made.json));
  assert.deepEqual(made.json, { address: 'sales@example.test', targets: ['alice@example.test', 'ext@remote.test'] });
  assert.equal((await call('POST', '/aliases', { address: '@example.test', targets: ['alice@example.test'] })).status, 201);
  assert.deepEqual(
    (await call('GET', '/aliases?domain=example.test')).json.map((a: { address: string }) => a.address),
    ['@example.test', 'sales@example.test'].sort(),
  );
  assert.equal((await inst.cli(['alias', 'list'])).stdout.includes('sales@example.test -> alice@example.test, ext@remote.test'), true);
  assertBad(await call('POST', '/aliases', { address: 'x@example.test', targets: ['alice@example.test', 'bad'] }), 'targets.1', /malformed target address/);
  assertBad(await call('POST', '/aliases', { address: 'x@example.test', targets: [] }), 'targets');
  assertBad(await call('POST', '/aliases', { address: 'x@example.test' }), 'targets');
  assertBad(await call('POST', '/aliases', { address: 'x', targets: ['alice@example.test'] }), 'address', /malformed alias address/);
  assertBad(await call('GET', '/aliases?domain=-bad-'), 'domain');
  assertProblem(await call('POST', '/aliases', { address: 'sales@example.test', targets: ['alice@example.test'] }), 409);
  assert.equal((await call('DELETE', '/aliases/@example.test')).status, 200);
  assert.equal((await call('DELETE', '/aliases/sales@example.test')).status, 200);
  assertProblem(await call('DELETE', '/aliases/sales@example.test'), 404);
  assertBad(await call('DELETE', '/aliases/no-at-sign'), 'address');
});

test('queue: list, show, hold, retry, release, bounce, delete', async () => {
  const [a, b] = queued as [string, string];
  const list = await call('GET', '/queue');
  assert.deepEqual(list.json.map((m: { id: string }) => m.id), [a, b]);
  const show = await call('GET', `/queue/${a.toLowerCase()}`);
  assert.equal(show.json.id, a, 'ids are case-insensitive');
  assert.equal(show.json.recipients[0].state, 'deferred');
  assertProblem(await call('GET', '/queue/ZZZZZZZZZZZZZZZZZZ'), 404, /no message ZZZZZZZZZZZZZZZZZZ in the queue/);
  assertBad(await call('GET', '/queue/short'), 'id', /malformed queue id/);

  assert.deepEqual((await call('POST', `/queue/${a}/hold`)).json, { id: a });
  assert.equal((await call('GET', `/queue/${a}`)).json.held, true);
  assertBad(await call('POST', '/queue/x!/hold'), 'id');
  assertProblem(await call('POST', '/queue/ZZZZZZZZZZZZZZZZZZ/hold'), 404);
  assert.deepEqual((await call('POST', `/queue/${a}/retry`)).json, { recipients: 1 });
  assertBad(await call('POST', '/queue/x!/retry'), 'id');
  assert.equal((await call('GET', `/queue/${a}`)).json.held, true, 'a retried held message stays held');
  assert.deepEqual((await call('POST', `/queue/${a}/release`)).json, { id: a });
  assert.equal((await call('GET', `/queue/${a}`)).json.held, false);
  assertBad(await call('POST', '/queue/x!/release'), 'id');
  assertBad(await call('POST', `/queue/${a}/hold`, { now: true }), 'now', /not a field/);

  // Hold b, then make everything due: the held one is counted but not delivered.
  await call('POST', `/queue/${b}/hold`);
  const all = await call('POST', '/queue/retry');
  assert.equal(all.status, 200);
  assert.equal(typeof all.json.recipients, 'number');

  assert.deepEqual((await call('POST', `/queue/${b}/bounce`)).json, { id: b });
  assertBad(await call('POST', '/queue/x!/bounce'), 'id');
  // the sender (a local user) gets the failure DSN
  assert.ok((await call('GET', '/queue')).json.every((m: { id: string }) => m.id !== b) || (await call('GET', `/queue/${b}`)).json.recipients.every((r: { state: string }) => r.state === 'bounced'));

  assert.deepEqual((await call('DELETE', `/queue/${a}`)).json, { id: a, bounced: false });
  assertProblem(await call('DELETE', `/queue/${a}`), 404);
  assertBad(await call('DELETE', '/queue/x!'), 'id');
});

test('DKIM keys: list, generate, rotate, retire', async () => {
  const keys = await call('GET', '/domains/example.test/dkim');
  assert.equal(keys.status, 200);
  assert.deepEqual(keys.json.map((k: { algorithm: string }) => k.algorithm).sort(), ['ed25519-sha256', 'rsa-sha256']);
  assert.match(keys.json[0].record, /^v=DKIM1; k=(rsa|ed25519); p=/);
  assert.equal(keys.json[0].path, undefined, 'the key file path is not shown');
  assertBad(await call('GET', '/domains/bad!/dkim'), 'domain');
  assertProblem(await call('POST', '/domains/example.test/dkim'), 409, /already has DKIM keys/);
  assertProblem(await call('POST', '/domains/nowhere.test/dkim'), 404, /not a local domain/);
  assertBad(await call('POST', '/domains/bad!/dkim'), 'domain');
  const rotated = await call('POST', '/domains/example.test/dkim/rotate');
  assert.equal(rotated.status, 201);
  assert.equal(rotated.json.length, 2);
  assertBad(await call('POST', '/domains/bad!/dkim/rotate'), 'domain');
  assertProblem(await call('POST', '/domains/nowhere.test/dkim/rotate'), 404);
  const old = keys.json[0].selector as string;
  assert.deepEqual((await call('DELETE', `/domains/example.test/dkim/${old.toUpperCase()}`)).json, { domain: 'example.test', selector: old });
  assertProblem(await call('DELETE', `/domains/example.test/dkim/${old}`), 404, /has no DKIM selector/);
  assertBad(await call('DELETE', '/domains/example.test/dkim/-bad-'), 'selector', /malformed selector/);
  assertBad(await call('DELETE', '/domains/bad!/dkim/abc'), 'domain');
  assert.equal((await call('GET', '/domains/example.test/dkim')).json.length, 3);
  const cli = await inst.cli(['dkim', 'list', 'example.test']);
  assert.equal(cli.stdout.trim().split('\n').length, 3, 'the CLI sees the same keys');
});

test('dns-records: each record ok, MISSING or WRONG', async () => {
  // two SPF records: WRONG (RFC 7208 §3.2 allows one)
  dns.setRecords('example.test', 'TXT', ['v=spf1 -all', 'v=spf1 mx -all']);
  const r = await call('GET', '/domains/example.test/dns-records');
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.domain, 'example.test');
  const mx = r.json.records.find((x: { type: string; name: string }) => x.type === 'MX' && x.name === 'example.test.');
  assert.equal(mx.status, 'ok');
  const spf = r.json.records.find((x: { purpose: string; name: string }) => /SPF/.test(x.purpose) && x.name === 'example.test.');
  assert.equal(spf.status, 'WRONG');
  const dmarc = r.json.records.find((x: { name: string }) => x.name === '_dmarc.example.test.');
  assert.equal(dmarc.status, 'MISSING');
  for (const rec of r.json.records) assert.ok(['ok', 'MISSING', 'WRONG', 'UNKNOWN'].includes(rec.status), rec.status);
  assertBad(await call('GET', '/domains/bad!/dns-records'), 'domain');
  assertProblem(await call('GET', '/domains/nowhere.test/dns-records'), 404, /not a local domain/);
});

test('tls: the certificate presented, its names, issuer and expiry; ACME off', async () => {
  const r = await call('GET', '/tls');
  assert.equal(r.status, 200);
  assert.equal(r.json.fallback, 'self-signed');
  assert.ok(r.json.certificates.length >= 1);
  const c = r.json.certificates.find((x: { names: string[] }) => x.names.includes('mail.example.test'));
  assert.ok(c, JSON.stringify(r.json));
  assert.ok(Date.parse(c.notAfter) > Date.now());
  assert.equal(c.expired, false);
  assert.ok(c.daysLeft > 0);
  // the self-signed certificate names its issuer (itself); ACME is off here, so no renewal
  assert.equal(c.issuer, 'CN=mail.example.test');
  assert.equal(c.managed, false);
  assert.equal(c.nextRenewal, null);
  assert.deepEqual(r.json.acme, { enabled: false });
});

test('unknown API paths are 404 problems', async () => {
  assertProblem(await call('GET', '/nothing-here'), 404);
});

test('OpenAPI 3.1 document: structure, every route, and the schemas the routes validate', async () => {
  const res = await fetch(url('/openapi.json'));
  assert.equal(res.status, 200, 'the description is public');
  const doc = (await res.json()) as any;
  assert.equal(doc.openapi, '3.1.0');
  assert.equal(typeof doc.info.title, 'string');
  assert.equal(typeof doc.info.version, 'string');
  assert.deepEqual(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer', description: doc.components.securitySchemes.bearer.description });
  assert.deepEqual(doc.security, [{ bearer: [] }]);
  const seen = new Set<string>();
  const operationIds = new Set<string>();
  for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    assert.match(path, /^\//);
    for (const [method, op] of Object.entries(item)) {
      assert.ok(['get', 'post', 'put', 'delete'].includes(method));
      seen.add(`${method} ${path}`);
      assert.ok(!operationIds.has(op.operationId), `unique operationId ${op.operationId}`);
      operationIds.add(op.operationId);
      assert.ok(Object.keys(op.responses).length >= 2);
      for (const [code, resp] of Object.entries(op.responses as Record<string, any>)) {
        assert.match(code, /^[1-5]\d\d$/);
        assert.equal(typeof resp.description, 'string');
      }
      // every {param} of the path is a required path parameter, and no other
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      assert.deepEqual((op.parameters ?? []).filter((p: any) => p.in === 'path').map((p: any) => p.name), inPath);
      for (const p of op.parameters ?? []) if (p.in === 'path') assert.equal(p.required, true);
    }
  }
  assert.deepEqual([...seen].sort(), API_ROUTES.map((r) => `${r.method} ${r.path}`).sort(), 'every route is in the document, and nothing else');

  for (const route of API_ROUTES) {
    const op = doc.paths[route.path][route.method];
    // the body schema is the input side of the operation's own schema, without the path/query fields
    const body = bodySchema(route);
    if (body) assert.deepEqual(op.requestBody.content['application/json'].schema, inputSchema(body), `${route.method} ${route.path}`);
    else assert.equal(op.requestBody, undefined);
    for (const p of op.parameters ?? []) assert.deepEqual(p.schema, inputSchema(route.input!.shape[p.name] as never));

    // What the document says is required, the route requires: leave each out of a valid example and get a 400 naming it.
    if (body) {
      const schema = op.requestBody.content['application/json'].schema;
      assert.equal(schema.additionalProperties, false, 'unknown fields are refused');
      assert.deepEqual(Object.keys(schema.properties).sort(), bodyFields(route).sort());
      const example = op.requestBody.content['application/json'].example;
      assert.ok(example, `${route.method} ${route.path} has an example`);
      const path = route.path.replace(/\{(\w+)\}/g, (_m, n: string) => (n === 'address' ? 'nobody@example.test' : 'x'));
      for (const field of schema.required ?? []) {
        const { [field]: _left, ...rest } = example;
        assertBad(await call(route.method.toUpperCase(), path, rest), field);
      }
      // and a field of the wrong type is refused naming it
      for (const field of Object.keys(schema.properties)) assertBad(await call(route.method.toUpperCase(), path, { ...example, [field]: { not: 'valid' } }), field);
      // a field the document does not list is refused naming it
      assertBad(await call(route.method.toUpperCase(), path, { ...example, undocumented: 1 }), 'undocumented');
    }
    // Each documented path parameter is validated: a malformed value is a 400 naming it.
    for (const name of pathParams(route.path)) {
      const path = route.path.replace(/\{(\w+)\}/g, (_m, n: string) => (n === name ? '%20bad%20value%20' : n === 'address' ? 'a@example.test' : n === 'id' ? 'AAAAAAAAAAAA' : n === 'selector' ? 'abc' : 'example.test'));
      assertBad(await call(route.method.toUpperCase(), path, route.example ?? undefined), name);
    }
  }
});
