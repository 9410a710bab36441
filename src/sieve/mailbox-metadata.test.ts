// mboxmetadata and servermetadata (RFC 5490 §3.3-3.4, §4) reading entries through
// SieveEnv.metadata: exists tests, match types and :count over an absent entry, variables in the
// arguments, and the environment without the hook (no entry exists).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { actions } from '../../test/helpers/sieve.js';

const entries = new Map<string, string>([
  ['INBOX\0/private/comment', 'vacation mode'],
  ['Lists\0/shared/comment', 'lists'],
  ['\0/shared/admin', 'mailto:admin@example.org'],
]);
const asked: Array<[string | null, string]> = [];
const metadata = async (mailbox: string | null, entry: string): Promise<string | null> => {
  asked.push([mailbox, entry]);
  return entries.get(`${mailbox ?? ''}\0${entry}`) ?? null;
};

test('metadata and metadataexists (RFC 5490 §3.3, §3.4) read the mailbox entries', async () => {
  const env = { metadata };
  const s = (test: string) => `require ["mboxmetadata", "fileinto"];\nif ${test} { fileinto "Yes"; }`;
  assert.deepEqual(await actions(s('metadataexists "INBOX" "/private/comment"'), { env }), ['fileinto "Yes"']);
  assert.deepEqual(await actions(s('metadataexists "INBOX" ["/private/comment", "/shared/comment"]'), { env }), ['keep'], 'every name must exist');
  assert.deepEqual(await actions(s('metadata :contains "INBOX" "/private/comment" "vacation"'), { env }), ['fileinto "Yes"']);
  assert.deepEqual(await actions(s('metadata :is "INBOX" "/private/comment" "vacation"'), { env }), ['keep']);
  assert.deepEqual(await actions(s('metadata :is "Lists" "/private/comment" ""'), { env }), ['keep'], 'an absent entry matches nothing, not even ""');
  assert.deepEqual(await actions('require ["mboxmetadata", "relational", "comparator-i;ascii-numeric", "fileinto"];\nif metadata :count "eq" :comparator "i;ascii-numeric" "Lists" "/private/comment" "0" { fileinto "Yes"; }', { env }), ['fileinto "Yes"']);
  assert.deepEqual(await actions('require ["mboxmetadata", "variables", "fileinto"];\nset "box" "Lists";\nif metadata :is "${box}" "/shared/comment" "lists" { fileinto "Yes"; }', { env }), ['fileinto "Yes"']);
  assert.ok(asked.some(([m, e]) => m === 'Lists' && e === '/shared/comment'), 'variables expanded before the lookup');
});

test('servermetadata and servermetadataexists (RFC 5490 §4.1, §4.2) read the server entries', async () => {
  const env = { metadata };
  const s = (test: string) => `require ["servermetadata", "fileinto"];\nif ${test} { fileinto "Yes"; }`;
  assert.deepEqual(await actions(s('servermetadataexists "/shared/admin"'), { env }), ['fileinto "Yes"']);
  assert.deepEqual(await actions(s('servermetadataexists "/private/comment"'), { env }), ['keep'], 'a mailbox entry is not a server entry');
  assert.deepEqual(await actions(s('servermetadata :matches "/shared/admin" "mailto:*"'), { env }), ['fileinto "Yes"']);
});

test('without the hook no annotation exists', async () => {
  assert.deepEqual(await actions('require "mboxmetadata";\nif metadataexists "INBOX" "/private/comment" { discard; }'), ['keep']);
  assert.deepEqual(await actions('require "servermetadata";\nif servermetadata :matches "/shared/admin" "*" { discard; }'), ['keep']);
});
