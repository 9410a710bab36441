// Comparison with Pigeonhole (Dovecot's Sieve, the reference implementation): for RFC examples
// and realistic scripts, `sieve-test` (Debian package dovecot-sieve, with dovecot-core) and
// Yubin must take the same actions. Skips, saying so, when sieve-test is not installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PIGEONHOLE_MISSING, SIEVE_TEST, compareWithPigeonhole, pigeonholeActions, type PigeonholeCase } from '../../test/helpers/sieve.js';

const MESSAGE = (headers: string[], body = 'Hello,\r\nsee you.\r\n'): string => [...headers, '', body].join('\r\n');
const BASE = ['Date: Tue, 1 Apr 2025 10:00:00 +0200', 'Message-ID: <m1@example.net>'];

const CASES: PigeonholeCase[] = [
  { name: 'RFC 5228 §3.1 if/elsif/else', script: 'require "fileinto";\nif header :contains "from" "coyote" {\n    discard;\n} elsif header :contains ["subject"] ["$$$"] {\n    discard;\n} else {\n    fileinto "INBOX";\n}\n', message: MESSAGE([...BASE, 'From: road@runner.example', 'To: ken@example.org', 'Subject: hi']) },
  { name: 'RFC 5228 §3.1 redirect chain', script: 'if header :contains ["From"] ["coyote"] {\n    redirect "acm@example.com";\n} elsif header :contains "Subject" "$$$" {\n    redirect "postmaster@example.com";\n} else {\n    redirect "field@example.com";\n}\n', message: MESSAGE([...BASE, 'From: coyote@desert.example', 'To: ken@example.org', 'Subject: $$$']) },
  { name: 'RFC 5228 §9 example (spam branch)', script: 'require ["fileinto"];\nif header :is "Sender" "owner-ietf-mta-filters@imc.org"\n        {\n        fileinto "filter";\n        }\nelsif address :DOMAIN :is ["From", "To"] "example.com"\n        {\n        keep;\n        }\nelsif anyof (NOT address :all :contains\n                ["To", "Cc", "Bcc"] "me@example.com",\n                header :matches "subject"\n                ["*make*money*fast*", "*university*dipl*mas*"])\n        {\n        fileinto "spam";\n        }\nelse\n        {\n        fileinto "personal";\n        }\n', message: MESSAGE([...BASE, 'From: x@spam.example', 'To: other@else.example', 'Subject: Make MONEY fast']) },
  { name: 'RFC 5228 §2.4.2.4 encoded-character', script: 'require "encoded-character";\nif header :contains "Subject" "$${hex:24 24}" {\n    discard;\n}\n', message: MESSAGE([...BASE, 'From: a@example.net', 'To: ken@example.org', 'Subject: win $$$ now']) },
  { name: 'mailing list filing with variables', script: 'require ["fileinto", "variables", "mailbox"];\nif header :matches "List-ID" "*<*.*>" {\n    fileinto :create "Lists/${2}"; stop;\n}\n', message: MESSAGE([...BASE, 'From: someone@lists.example', 'To: dev@lists.example', 'List-ID: Developers <dev.lists.example>', 'Subject: [dev] release']) },
  { name: 'flagging the boss', script: 'require ["imap4flags", "fileinto"];\nif address :is "from" "boss@example.org" {\n    addflag "\\\\Flagged";\n    addflag "$Work";\n}\nif header :contains "subject" "urgent" { fileinto :flags "\\\\Seen" "Urgent"; }\n', message: MESSAGE([...BASE, 'From: The Boss <boss@example.org>', 'To: ken@example.org', 'Subject: urgent: report']) },
  { name: 'vacation', script: 'require "vacation";\nvacation :days 3 :subject "Out of office" "I am away until Monday.";\n', message: MESSAGE([...BASE, 'From: friend@example.net', 'To: ken@example.org', 'Subject: lunch?']), from: 'friend@example.net', to: 'ken@example.org' },
  { name: 'redirect with copy', script: 'require "copy";\nif header :contains "subject" "invoice" { redirect :copy "accounting@example.org"; }\n', message: MESSAGE([...BASE, 'From: shop@example.net', 'To: ken@example.org', 'Subject: Your invoice']) },
  { name: 'subaddress', script: 'require ["envelope", "subaddress", "fileinto"];\nif envelope :detail "to" "sieve" { fileinto "Sieve"; }\nelsif envelope :user "to" "ken" { fileinto "Ken"; }\n', message: MESSAGE([...BASE, 'From: a@example.net', 'To: ken+sieve@example.org', 'Subject: x']), to: 'ken+sieve@example.org' },
  { name: 'body', script: 'require ["body", "fileinto"];\nif body :text :contains "unsubscribe" { fileinto "Newsletters"; }\n', message: MESSAGE([...BASE, 'From: news@example.net', 'To: ken@example.org', 'Subject: news'], 'Our news.\r\nClick here to unsubscribe.\r\n') },
  { name: 'date', script: 'require ["date", "relational", "fileinto"];\nif date :value "ge" :originalzone "date" "hour" "09" { fileinto "Daytime"; }\nif date :is :originalzone "date" "date" "2025-04-01" { fileinto "April-1"; }\n', message: MESSAGE([...BASE, 'From: a@example.net', 'To: ken@example.org', 'Subject: x']) },
  { name: 'reject', script: 'require "reject";\nif header :contains "subject" "viagra" { reject "No thanks"; }\n', message: MESSAGE([...BASE, 'From: a@spam.example', 'To: ken@example.org', 'Subject: cheap viagra']) },
  { name: 'discard with implicit keep cancelled', script: 'if size :over 10 { discard; }\n', message: MESSAGE([...BASE, 'From: a@example.net', 'To: ken@example.org', 'Subject: x']) },
  { name: 'implicit keep with flags', script: 'require "imap4flags";\nsetflag "\\\\Seen";\n', message: MESSAGE([...BASE, 'From: a@example.net', 'To: ken@example.org', 'Subject: x']) },
];

test('Yubin and Pigeonhole take the same actions', { skip: SIEVE_TEST ? false : PIGEONHOLE_MISSING }, async (t) => {
  await compareWithPigeonhole(t, CASES);
});

test('the Pigeonhole output reader', () => {
  const out = '\nPerformed actions:\n\n * store message in folder: Boss\n        + preserve implicit keep\n        + add IMAP flags: \\flagged\n * redirect message to: <x@example.net>\n * send vacation message:\n    => seconds : 259200\n    => subject : Away\n\nImplicit keep:\n\n * store message in folder: INBOX\n        + add IMAP flags: \\flagged\n\nsieve-test: Info: final result: success\n';
  assert.deepEqual(pigeonholeActions(out), ['store Boss \\flagged', 'redirect x@example.net', 'vacation Away', 'store INBOX \\flagged']);
});
