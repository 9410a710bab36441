// The interpreter: the RFC examples as fixtures (RFC 5228 §2.x, §9 and the extension RFCs'
// examples), implicit keep (RFC 5228 §2.10.2), each extension, and the defences (limits,
// CPU budget, include loops, regex guard).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { actions, run, MSG } from '../../test/helpers/sieve.js';
import { globMatch } from './match.js';
import { formatAction } from './index.js';

const msgWith = (headers: string[], body = 'hello\r\n'): string => [...headers, '', body].join('\r\n');

test('RFC 5228 §2.10.2: implicit keep when nothing cancels it; size example does not fire', async () => {
  assert.deepEqual(await actions('if size :over 500K { discard; }'), ['keep']);
  assert.deepEqual(await actions(''), ['keep']);
  assert.deepEqual(await actions('stop;'), ['keep']);
});

test('RFC 5228 §3.1 example: if/elsif/else chain', async () => {
  const s = 'require "fileinto";\nif header :contains "from" "coyote" {\n    discard;\n} elsif header :contains ["subject"] ["$$$"] {\n    discard;\n} else {\n    fileinto "INBOX";\n}\n';
  assert.deepEqual(await actions(s), ['discard']);
  assert.deepEqual(await actions(s, { msg: msgWith(['From: road@runner.example', 'Subject: get $$$ now']) }), ['discard']);
  assert.deepEqual(await actions(s, { msg: msgWith(['From: road@runner.example', 'Subject: hi']) }), ['fileinto "INBOX"']);
});

test('RFC 5228 §3.1 example: redirects', async () => {
  const s = 'if header :contains ["From"] ["coyote"] {\n    redirect "acm@example.com";\n} elsif header :contains "Subject" "$$$" {\n    redirect "postmaster@example.com";\n} else {\n    redirect "field@example.com";\n}\n';
  assert.deepEqual(await actions(s), ['redirect "acm@example.com"']);
  assert.deepEqual(await actions(s, { msg: msgWith(['From: x@y.example', 'Subject: $$$']) }), ['redirect "postmaster@example.com"']);
  assert.deepEqual(await actions(s, { msg: msgWith(['From: x@y.example']) }), ['redirect "field@example.com"']);
});

test('RFC 5228 §4.1, §4.2, §4.3 examples', async () => {
  assert.deepEqual(await actions('require "fileinto";\nif header :contains ["from"] "coyote" {\n    fileinto "INBOX.harassment";\n}\n'), ['fileinto "INBOX.harassment"']);
  assert.deepEqual(await actions('redirect "bart@example.com";'), ['redirect "bart@example.com"']);
  assert.deepEqual(await actions('if size :under 1M { keep; } else { discard; }'), ['keep']);
  assert.deepEqual(await actions('if header :contains ["from"] ["idiot@example.com"] {\n    discard;\n}\n', { msg: msgWith(['From: idiot@example.com']) }), ['discard']);
});

test('RFC 5228 §5 examples: address, envelope, exists, anyof/not, :comparator i;octet', async () => {
  const tim = msgWith(['From: tim@example.com', 'Date: Tue, 1 Apr 2025 10:00:00 +0200']);
  assert.deepEqual(await actions('if address :is :all "from" "tim@example.com" {\n    discard;\n}\n', { msg: tim }), ['discard']);
  assert.deepEqual(await actions('require "envelope";\nif envelope :all :is "from" "tim@example.com" {\n    discard;\n}\n', { from: 'tim@example.com' }), ['discard']);
  assert.deepEqual(await actions('if not exists ["From","Date"] {\n    discard;\n}\n', { msg: msgWith(['From: a@b.example']) }), ['discard']);
  assert.deepEqual(await actions('if not exists ["From","Date"] {\n    discard;\n}\n', { msg: tim }), ['keep']);
  assert.deepEqual(await actions('if anyof (not exists ["From", "Date"],\n    header :contains "from" "fool@example.com") {\n    discard;\n}\n', { msg: msgWith(['From: fool@example.com', 'Date: x']) }), ['discard']);
  const money = msgWith(['Subject: make money fast']);
  const octet = 'if header :contains :comparator "i;octet" "Subject"\n    "MAKE MONEY FAST" {\n    discard;\n}\n';
  assert.deepEqual(await actions(octet, { msg: money }), ['keep']);
  assert.deepEqual(await actions(octet, { msg: msgWith(['Subject: MAKE MONEY FAST']) }), ['discard']);
  // RFC 5228 §2.7.1 example: the empty key matches an existing header only; "?*" a non-empty one.
  const caffeine = 'if anyof(header :is ["X-Caffeine"] [""], header :contains ["X-Caffeine"] [""], not header :matches "Cc" "?*") {\n    stop;\n}\ndiscard;';
  assert.deepEqual(await actions(caffeine, { msg: msgWith(['Cc: someone@example.com']) }), ['discard']);
  assert.deepEqual(await actions(caffeine, { msg: msgWith(['X-Caffeine: C8H10N4O2', 'Cc: someone@example.com']) }), ['keep']);
});

test('RFC 5228 §2.4.2.4 example: encoded-character', async () => {
  const s = 'require "encoded-character";\nif header :contains "Subject" "$${hex:24 24}" {\n    discard;\n}\n';
  assert.deepEqual(await actions(s, { msg: msgWith(['Subject: win $$$ now']) }), ['discard']);
  assert.deepEqual(await actions(s, { msg: msgWith(['Subject: win $$ now']) }), ['keep']);
});

test('RFC 5228 §9 example script', async () => {
  const s = `#
# Example Sieve Filter
# Declare any optional features or extension used by the script
#
require ["fileinto"];

#
# Handle messages from known mailing lists
# Move messages from IETF filter discussion list to filter mailbox
#
if header :is "Sender" "owner-ietf-mta-filters@imc.org"
        {
        fileinto "filter";  # move to "filter" mailbox
        }
#
# Keep all messages to or from people in my company
#
elsif address :DOMAIN :is ["From", "To"] "example.com"
        {
        keep;               # keep in "In" mailbox
        }

#
# Try and catch unsolicited email.  If a message is not to me,
# or it contains a subject known to be spam, file it away.
#
elsif anyof (NOT address :all :contains
                ["To", "Cc", "Bcc"] "me@example.com",
                header :matches "subject"
                ["*make*money*fast*", "*university*dipl*mas*"])
        {
        fileinto "spam";   # move to "spam" mailbox
        }
else
        {
        # Move all other (non-company) mail to "personal"
        # mailbox.
        fileinto "personal";
        }
`;
  assert.deepEqual(await actions(s), ['fileinto "filter"']);
  assert.deepEqual(await actions(s, { msg: msgWith(['From: boss@example.com', 'To: me@example.com']) }), ['keep']);
  assert.deepEqual(await actions(s, { msg: msgWith(['From: x@spam.example', 'To: someone@else.example']) }), ['fileinto "spam"']);
  assert.deepEqual(await actions(s, { msg: msgWith(['From: x@spam.example', 'To: other@else.example', 'Cc: me@example.com', 'Subject: Make lots of MONEY Fast']) }), ['fileinto "spam"']);
  assert.deepEqual(await actions(s, { msg: msgWith(['From: friend@else.example', 'To: other@else.example', 'Cc: me@example.com', 'Subject: hi']) }), ['fileinto "personal"']);
});

test('fileinto twice into one mailbox files once (RFC 5228 §2.10.3); keep and discard', async () => {
  assert.deepEqual(await actions('require "fileinto"; fileinto "a"; fileinto "a"; discard;'), ['fileinto "a"']);
  assert.deepEqual(await actions('keep; discard;'), ['keep']);
});

test('reject and ereject (RFC 5429); reject with fileinto is an error that keeps', async () => {
  assert.deepEqual(await actions('require "reject"; reject text:\nNo thanks.\n..\n.\n;'), ['reject "No thanks.\\r\\n.\\r\\n"']);
  assert.deepEqual(await actions('require "ereject"; ereject "go away";'), ['ereject "go away"']);
  const r = await run('require ["reject", "fileinto"]; fileinto "x"; reject "no";');
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0]!, /reject cannot be combined with fileinto/);
  assert.deepEqual(r.actions.map(formatAction), ['keep']);
});

test('copy (RFC 3894): redirect :copy and fileinto :copy keep the implicit keep', async () => {
  assert.deepEqual(await actions('require ["copy", "fileinto"]; redirect :copy "a@example.net"; fileinto :copy "b";'), ['redirect "a@example.net" :copy', 'fileinto "b" :copy', 'keep']);
});

test('variables (RFC 5229 §3 example): match variables from :matches', async () => {
  const s = 'require ["fileinto", "variables"];\nif header :matches "List-ID" "*<*@*" {\n    fileinto "INBOX.lists.${2}"; stop;\n}\n';
  assert.deepEqual(await actions(s, { msg: msgWith(['List-ID: Sieve WG <ietf-mta-filters@imc.org>']) }), ['fileinto "INBOX.lists.ietf-mta-filters"']);
  const s2 = 'require ["fileinto", "variables"];\nif header :matches "Subject" "[*] *" {\n    fileinto "INBOX.lists.${1}"; stop;\n}\n';
  assert.deepEqual(await actions(s2, { msg: msgWith(['Subject: [acme-users] [fwd] version 1.0 is out']) }), ['fileinto "INBOX.lists.acme-users"']);
});

test('variables: set modifiers (RFC 5229 §4.1 examples) and the string test', async () => {
  const s = `require ["variables", "fileinto"];
set "honorific" "Mr";
set "first_name" "Wile";
set "last_name" "Coyote";
set "vacation" text:
Dear \${HONORIFIC} \${last_name},
I'm out, please leave a message after the meep.
.
;
set :length "len" "\${vacation}";
set :upper "a" "\${first_name}";
set :lowerfirst "b" "\${a}";
set :upperfirst :lower "c" "\${a}";
set :quotewildcard "d" "a*b?c\\\\";
if string :is "\${vacation}" "Dear Mr Coyote,\${hex:0D 0A}I'm out, please leave a message after the meep.\${hex:0d 0a}" { fileinto "x-unencoded"; }
if string :is "\${len}" "66" { fileinto "len-66"; }
fileinto "\${a}-\${b}-\${c}-\${d}";
`;
  assert.deepEqual(await actions(s), ['fileinto "len-66"', 'fileinto "WILE-wILE-Wile-a\\\\*b\\\\?c\\\\\\\\"']);
});

test('relational (RFC 5231 examples): :count and :value', async () => {
  const m = msgWith(['To: a@example.com, b@example.com', 'Cc: c@example.com', 'X-Priority: 7']);
  assert.deepEqual(await actions('require ["relational", "comparator-i;ascii-numeric"];\nif address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] ["3"] { discard; }', { msg: m }), ['discard']);
  assert.deepEqual(await actions('require ["relational", "comparator-i;ascii-numeric"];\nif header :value "lt" :comparator "i;ascii-numeric" ["x-priority"] ["3"] { discard; }', { msg: m }), ['keep']);
  assert.deepEqual(await actions('require ["relational", "comparator-i;ascii-numeric"];\nif header :value "gt" :comparator "i;ascii-numeric" ["x-priority"] ["3"] { discard; }', { msg: m }), ['discard']);
});

test('imap4flags (RFC 5232): flags on implicit keep, :flags, hasflag, removeflag', async () => {
  assert.deepEqual(await actions('require "imap4flags";\nif header :contains "from" "coyote" { addflag "\\\\Flagged"; }'), ['keep :flags ["\\\\Flagged"]']);
  assert.deepEqual(await actions('require ["imap4flags", "fileinto"];\nsetflag "\\\\Seen $Work"; removeflag "\\\\seen"; fileinto :flags "\\\\Answered" "a"; if hasflag :contains "work" { keep; }'), ['fileinto "a" :flags ["\\\\Answered"]', 'keep :flags ["$Work"]']);
  assert.deepEqual(await actions('require ["imap4flags", "variables"];\naddflag "fv" ["a", "b a"]; if string "${fv}" "a b" { discard; }'), ['discard']);
});

test('subaddress (RFC 5233): :user and :detail with the "+" separator', async () => {
  const s = 'require ["envelope", "subaddress", "fileinto"];\nif envelope :detail "to" "sieve" { fileinto "sieve"; }\nif envelope :user "to" "ken" { fileinto "ken"; }\nif address :detail "to" "" { fileinto "empty-detail"; }';
  assert.deepEqual(await actions(s), ['fileinto "sieve"', 'fileinto "ken"']);
  assert.deepEqual(await actions(s, { to: 'ken+@example.org', msg: msgWith(['To: ken+@example.org']) }), ['fileinto "ken"', 'fileinto "empty-detail"']);
  // RFC 5233 §4: no separator, no detail: :detail matches nothing, even "*".
  assert.deepEqual(await actions('require ["envelope", "subaddress"];\nif envelope :detail :matches "to" "*" { discard; }', { to: 'ken@example.org' }), ['keep']);
});

test('body (RFC 5173): :text, :raw, :content on a multipart message', async () => {
  const m = [
    'From: a@example.com', 'MIME-Version: 1.0', 'Content-Type: multipart/alternative; boundary="b"', '',
    '--b', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '', 'Gr=C3=BC=C3=9Fe and MAKE MONEY', '',
    '--b', 'Content-Type: text/html', '', '<p>html <b>part</b></p>', '',
    '--b--', '',
  ].join('\r\n');
  assert.deepEqual(await actions('require "body";\nif body :contains "GRÜßE" { discard; }', { msg: m }), ['keep'], 'i;ascii-casemap folds ASCII only');
  assert.deepEqual(await actions('require ["body", "comparator-i;unicode-casemap"];\nif body :comparator "i;unicode-casemap" :contains "GRÜSSE" { discard; }', { msg: m }), ['keep']);
  assert.deepEqual(await actions('require "body";\nif body :text :contains "Grüße" { discard; }', { msg: m }), ['discard']);
  assert.deepEqual(await actions('require "body";\nif body :raw :contains "=C3=BC" { discard; }', { msg: m }), ['discard']);
  assert.deepEqual(await actions('require "body";\nif body :content "text/html" :contains "<b>part</b>" { discard; }', { msg: m }), ['discard']);
  assert.deepEqual(await actions('require "body";\nif body :content "text/plain" :contains "<b>part</b>" { discard; }', { msg: m }), ['keep']);
  assert.deepEqual(await actions('require "body";\nif body :text :contains "html part" { discard; }', { msg: m }), ['discard']);
});

test('date and index (RFC 5260 examples)', async () => {
  const m = msgWith(['Date: Tue, 1 Apr 2025 23:30:00 -0500', 'Received: from a by b; Wed, 2 Apr 2025 05:00:00 +0000', 'Received: from c by d; Tue, 1 Apr 2025 04:00:00 +0000']);
  assert.deepEqual(await actions('require "date";\nif date :originalzone "date" "hour" "23" { discard; }', { msg: m }), ['discard']);
  assert.deepEqual(await actions('require "date";\nif date :zone "+0000" "date" "date" "2025-04-02" { discard; }', { msg: m }), ['discard']);
  assert.deepEqual(await actions('require "date";\nif date :zone "+0000" "date" "weekday" "3" { discard; }', { msg: m }), ['discard']);
  assert.deepEqual(await actions('require ["date", "variables", "fileinto"];\nif date :originalzone :matches "date" "iso8601" "*" { fileinto "${1}"; }', { msg: m }), ['fileinto "2025-04-01T23:30:00-05:00"']);
  assert.deepEqual(await actions('require ["date", "relational"];\nif currentdate :zone "+0000" :value "ge" "date" "2025-01-01" { discard; }'), ['discard']);
  assert.deepEqual(await actions('require ["date", "index", "variables", "fileinto"];\nif date :index 1 :last :zone "+0000" :matches "received" "time" "*" { fileinto "${0}"; }', { msg: m }), ['fileinto "04:00:00"']);
  assert.deepEqual(await actions('require ["index", "fileinto", "variables"];\nif header :index 1 :matches "received" "from * by *" { fileinto "${1}"; }', { msg: m }), ['fileinto "a"']);
  assert.deepEqual(await actions('require "date";\nif date :zone "+0000" "date" "julian" "60767" { discard; }', { msg: m }), ['discard'], 'Modified Julian Day of 2025-04-02');
});

test('vacation (RFC 5230): reply decided; no reply to lists, auto-submitted, <>, owner-, or when not a direct recipient', async () => {
  const s = 'require "vacation";\nvacation :days 3 :subject "Away" "I am away";';
  const to = msgWith(['From: friend@example.net', 'To: ken@example.org', 'Subject: lunch?']);
  assert.deepEqual(await actions(s, { msg: to, from: 'friend@example.net', to: 'ken@example.org' }), ['vacation to "friend@example.net" subject "Away" seconds 259200 handle "I am awayAway<default-from><NO-MIME>"', 'keep']);
  const no = async (headers: string[], from = 'friend@example.net'): Promise<void> => {
    assert.deepEqual(await actions(s, { msg: msgWith(headers), from, to: 'ken@example.org' }), ['keep'], headers.join(' / ') + ' from ' + from);
  };
  await no(['From: friend@example.net', 'To: ken@example.org', 'List-Id: <x.example.net>']);
  await no(['From: friend@example.net', 'To: ken@example.org', 'Auto-Submitted: auto-replied']);
  await no(['From: friend@example.net', 'To: ken@example.org', 'Precedence: bulk']);
  await no(['From: friend@example.net', 'To: ken@example.org'], '');
  await no(['From: friend@example.net', 'To: ken@example.org'], 'owner-list@example.net');
  await no(['From: friend@example.net', 'To: ken@example.org'], 'list-request@example.net');
  await no(['From: friend@example.net', 'To: someone@example.org']);
  // :addresses makes an alias a direct recipient (RFC 5230 §4.5).
  const alias = 'require "vacation";\nvacation :addresses ["boss@example.org"] "away";';
  assert.equal((await actions(alias, { msg: msgWith(['To: boss@example.org']), from: 'f@example.net', to: 'ken@example.org' }))[0]!.startsWith('vacation to "f@example.net" subject "Auto: "'), true);
  // vacation-seconds (RFC 6131).
  assert.match((await actions('require "vacation-seconds";\nvacation :seconds 0 "x";', { msg: to, from: 'friend@example.net', to: 'ken@example.org' }))[0]!, / seconds 0 /);
});

test('mailbox (RFC 5490): mailboxexists and fileinto :create; metadata absent', async () => {
  const s = 'require ["mailbox", "fileinto"];\nif mailboxexists "Lists" { fileinto "Lists"; } else { fileinto :create "Other"; }';
  assert.deepEqual(await actions(s), ['fileinto "Lists"']);
  assert.deepEqual(await actions(s, { env: { mailboxExists: async () => false } }), ['fileinto "Other" :create']);
  assert.deepEqual(await actions('require "mboxmetadata";\nif metadataexists "INBOX" "/private/comment" { discard; }'), ['keep']);
});

test('editheader (RFC 5293): later tests see the change; Received and Auto-Submitted are protected', async () => {
  const s = 'require ["editheader", "fileinto"];\naddheader "X-Hello" "World";\nif header :is "x-hello" "World" { fileinto "seen"; }\ndeleteheader "subject";\nif not exists "subject" { fileinto "gone"; }\ndeleteheader "received";\naddheader "Received" "forged";';
  const m = msgWith(['Received: from a by b', 'Subject: hi', 'From: a@example.com']);
  const r = await run(s, { msg: m });
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.actions.map(formatAction), ['fileinto "seen"', 'fileinto "gone"']);
  assert.equal(r.editedRaw!.toString(), 'X-Hello: World\r\nReceived: from a by b\r\nFrom: a@example.com\r\n\r\nhello\r\n');
  const r2 = await run('require "editheader";\naddheader :last "X-Utf" "Grüße";\ndeleteheader :index 1 "nonesuch";', { msg: m });
  assert.match(r2.editedRaw!.toString(), /\r\nX-Utf: =\?UTF-8\?Q\?Gr=C3=BC=C3=9Fe\?=\r\n\r\n/);
});

test('duplicate (RFC 7352): the Message-ID (or :uniqueid) with :handle goes to the store', async () => {
  const seen: Array<[string, number]> = [];
  const env = { duplicate: async (id: string, s: number) => { seen.push([id, s]); return id.includes('present'); } };
  assert.deepEqual(await actions('require "duplicate";\nif duplicate { discard; }', { env }), ['discard']);
  assert.deepEqual(await actions('require "duplicate";\nif duplicate :handle "h" :uniqueid "other" :seconds 60 { discard; }', { env }), ['keep']);
  assert.deepEqual(seen, [['\u0000<present@desert.example.org>', 604800], ['h\u0000other', 60]]);
  assert.deepEqual(await actions('require "duplicate";\nif duplicate { discard; }', { env, msg: msgWith(['From: a@b.example']) }), ['keep'], 'no Message-ID: false');
});

test('include (RFC 6609): personal and global, global variables, return, :once, :optional, loops', async () => {
  const scripts: Record<string, string> = {
    'personal:lists': 'require ["fileinto", "include", "variables"];\nglobal "box";\nif header :contains "subject" "present" { fileinto "${box}"; return; }\nfileinto "not-reached";',
    'global:spam': 'require "fileinto";\nfileinto "global-spam";',
    'personal:loop': 'require "include";\ninclude "loop2";',
    'personal:loop2': 'require "include";\ninclude "loop";',
  };
  const env = { loadInclude: async (n: string, l: 'personal' | 'global') => scripts[`${l}:${n}`] ?? null };
  assert.deepEqual(await actions('require ["include", "variables"];\nglobal "box";\nset "box" "Presents";\ninclude "lists";\ninclude :once "lists";\ninclude :once "lists";\ninclude :global "spam";\ninclude :optional "missing";', { env }), ['fileinto "Presents"', 'fileinto "global-spam"']);
  const loop = await run('require "include";\ninclude "loop";', { env });
  assert.match(loop.errors[0]!, /include loop/);
  assert.deepEqual(loop.actions.map(formatAction), ['keep']);
  const missing = await run('require "include";\ninclude "missing";', { env });
  assert.match(missing.errors[0]!, /does not exist/);
});

test('spamtest, spamtestplus, virustest (RFC 5235)', async () => {
  const s = 'require ["spamtest", "relational", "comparator-i;ascii-numeric"];\nif spamtest :value "ge" :comparator "i;ascii-numeric" "6" { discard; }';
  assert.deepEqual(await actions(s, { env: { spam: { score: 9, percent: 90 } } }), ['discard']);
  assert.deepEqual(await actions(s, { env: { spam: { score: 1, percent: 10 } } }), ['keep']);
  assert.deepEqual(await actions('require "spamtest";\nif spamtest "0" { discard; }'), ['discard'], 'not tested is "0"');
  assert.deepEqual(await actions('require ["spamtestplus", "relational", "comparator-i;ascii-numeric"];\nif spamtest :percent :value "gt" :comparator "i;ascii-numeric" "50" { discard; }', { env: { spam: { score: 7, percent: 70 } } }), ['discard']);
  assert.deepEqual(await actions('require ["virustest", "relational", "comparator-i;ascii-numeric"];\nif virustest :value "ge" :comparator "i;ascii-numeric" "4" { discard; }', { env: { virus: 5 } }), ['discard']);
});

test('environment (RFC 5183)', async () => {
  assert.deepEqual(await actions('require "environment";\nif environment :is "location" "MDA" { if environment :contains "host" "mx." { discard; } }'), ['discard']);
  assert.deepEqual(await actions('require "environment";\nif environment :matches "nonesuch" "*" { discard; }'), ['keep']);
});

test('regex (draft-ietf-sieve-regex): match variables, case folding, and a catastrophic pattern runs in linear time', async () => {
  const s = 'require ["regex", "variables", "fileinto"];\nif header :regex "subject" "^i have ([a-z]+) (PRESENT)" { fileinto "${1}-${2}"; }';
  assert.deepEqual(await actions(s), ['fileinto "a-present"']);
  const evil = msgWith(['Subject: ' + 'a'.repeat(30000) + '!']);
  const t0 = Date.now();
  assert.deepEqual(await actions('require "regex";\nif header :regex "subject" "^(a+)+$" { discard; }', { msg: evil }), ['keep']);
  assert.ok(Date.now() - t0 < 2000, 'linear-time engine');
});

test(':matches is linear: many stars on a long value finish quickly', () => {
  const v = 'a'.repeat(20000);
  const t0 = Date.now();
  assert.equal(globMatch(v, '*a*a*a*a*a*a*a*a*b', (c) => c), null);
  assert.ok(Date.now() - t0 < 2000);
  assert.deepEqual(globMatch('Foo <foo@bar.com>', '*<*@*', (c) => c), ['Foo <foo@bar.com>', 'Foo ', 'foo', 'bar.com>']);
  assert.deepEqual(globMatch('a*b', 'a\\*?', (c) => c), ['a*b', 'b']);
});

test('limits: actions per run, redirects, CPU time (a huge script of cheap tests stops)', async () => {
  const many = 'require "fileinto";\n' + Array.from({ length: 40 }, (_v, i) => `fileinto "f${i}";`).join('\n');
  const r = await run(many, { limits: { maxActions: 32 } });
  assert.match(r.errors[0]!, /more than 32 actions/);
  assert.deepEqual(r.actions.map(formatAction), ['keep']);
  const redirects = Array.from({ length: 6 }, (_v, i) => `redirect "r${i}@example.net";`).join('\n');
  assert.match((await run(redirects, { limits: { maxRedirects: 4 } })).errors[0]!, /more than 4 redirects/);
  // A script that would take long: many :matches tests over a long header, with a tiny budget.
  const long = msgWith(['Subject: ' + 'ab'.repeat(5000)]);
  const slow = Array.from({ length: 2000 }, () => 'if header :matches "subject" "*a*b*c*" { keep; }').join('\n');
  const t0 = Date.now();
  const r3 = await run(slow, { msg: long, limits: { cpuMs: 50, maxScriptBytes: 10_000_000 } });
  assert.match(r3.errors[0] ?? '', /ran longer than 50 ms/);
  assert.ok(Date.now() - t0 < 3000);
});

test('includes count against maxIncludes', async () => {
  const env = { loadInclude: async () => 'require "fileinto"; fileinto "x";' };
  const s = 'require "include";\n' + Array.from({ length: 5 }, (_v, i) => `include "s${i}";`).join('\n');
  assert.match((await run(s, { env, limits: { maxIncludes: 3 } })).errors[0]!, /more than 3 includes/);
});

test('the default message fixture parses', async () => {
  assert.ok(MSG.includes('anvil'));
});
