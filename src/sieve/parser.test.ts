// Lexer, parser and validator: the RFC 5228 grammar, error positions, and the per-extension
// argument rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tokenize } from './lexer.js';
import { compileSieve, SIEVE_EXTENSIONS } from './index.js';
import { compileErrors } from '../../test/helpers/sieve.js';

test('numbers with K/M/G quantifiers (RFC 5228 §2.4.1)', () => {
  const t = tokenize('1 2K 3m 1G');
  assert.deepEqual(t.filter((x) => x.kind === 'number').map((x) => x.num), [1, 2048, 3 * 1024 * 1024, 1024 ** 3]);
});

test('quoted strings: \\" and \\\\ escapes, other escapes drop the backslash (RFC 5228 §2.4.2)', () => {
  const t = tokenize('"a\\"b\\\\c\\d"');
  assert.equal(t[0]!.text, 'a"b\\cd');
});

test('multi-line strings with dot-stuffing and a comment after text: (RFC 5228 §2.4.2)', () => {
  const t = tokenize('text: # comment\r\nline one\r\n..dot line\r\n.\r\n');
  assert.equal(t[0]!.kind, 'string');
  assert.equal(t[0]!.text, 'line one\r\n.dot line\r\n');
});

test('bracketed and hash comments (RFC 5228 §2.3), RFC 5228 §2.3 example', () => {
  const c = compileSieve('if size :over 100K { /* this is a comment\n    this is still a comment */ discard /* this is a comment\n    */ ;\n}\nif size :over 100k { # this is a comment\n    discard;\n}\n');
  assert.equal(c.ok, true);
});

test('errors are line:column: message', () => {
  assert.deepEqual(compileErrors('keep;\nif foo { keep; }'), ['2:4: unknown test "foo"']);
  assert.deepEqual(compileErrors('keep;\n  fileinto "x";'), ['2:3: command "fileinto" needs require "fileinto"']);
  assert.deepEqual(compileErrors('require "nonesuch";'), ['1:9: unsupported extension "nonesuch"']);
  assert.deepEqual(compileErrors('keep\n'), ['2:1: expected ";" or "{" after keep, found end of script']);
  assert.deepEqual(compileErrors('if true { keep;'), ['1:16: missing "}"']);
  assert.deepEqual(compileErrors('"unterminated'), ['1:1: unterminated string']);
  assert.deepEqual(compileErrors('keep; /* open'), ['1:7: unterminated comment']);
  assert.deepEqual(compileErrors('x: text:\nabc\n'), ['1:2: bad tag']);
});

test('require only before other commands (RFC 5228 §3.2)', () => {
  assert.deepEqual(compileErrors('keep;\nrequire "fileinto";'), ['2:1: require must come before any other command']);
});

test('elsif/else only after if (RFC 5228 §3.1)', () => {
  assert.deepEqual(compileErrors('else { keep; }'), ['1:1: else without if']);
  assert.deepEqual(compileErrors('keep; elsif true { keep; }'), ['1:7: elsif without if']);
});

test('argument rules: tags before positionals, types, counts, groups', () => {
  assert.deepEqual(compileErrors('if header "subject" :is "x" { keep; }'), ['1:21: tagged argument :is after positional arguments of header']);
  assert.deepEqual(compileErrors('if header :is :contains "subject" "x" { keep; }'), ['1:15: :contains cannot be combined with :is']);
  assert.deepEqual(compileErrors('if size 10 { keep; }'), ['1:4: size needs :over or :under']);
  assert.deepEqual(compileErrors('if header "subject" { keep; }'), ['1:4: header needs 2 arguments']);
  assert.deepEqual(compileErrors('redirect ["a@b.c", "d@e.f"];'), ['1:10: redirect: expected a string']);
  assert.deepEqual(compileErrors('redirect "not an address";'), ['1:1: redirect: invalid address "not an address"']);
  assert.deepEqual(compileErrors('if header :foo "a" "b" { keep; }'), ['1:11: unknown tagged argument :foo for header']);
});

test('extensions must be required for their tags too', () => {
  assert.deepEqual(compileErrors('require "fileinto";\nfileinto :copy "x";'), ['2:10: :copy needs require "copy"']);
  assert.deepEqual(compileErrors('if address :user "to" "ken" { keep; }'), ['1:12: :user needs require "subaddress"']);
  assert.deepEqual(compileErrors('if header :count "eq" "to" "1" { keep; }'), ['1:11: :count needs require "relational"']);
  assert.deepEqual(compileErrors('if header :regex "subject" "x" { keep; }'), ['1:11: :regex needs require "regex"']);
});

test('comparators: known and required (RFC 5228 §2.7.3), no substring match with i;ascii-numeric (RFC 4790 §9.1.1)', () => {
  assert.deepEqual(compileErrors('if header :comparator "i;nonesuch" "subject" "x" { keep; }'), ['1:11: unknown comparator "i;nonesuch"']);
  assert.deepEqual(compileErrors('if header :comparator "i;ascii-numeric" "x" "1" { keep; }'), ['1:11: comparator "i;ascii-numeric" used without require "comparator-i;ascii-numeric"']);
  assert.deepEqual(compileErrors('require "comparator-i;ascii-numeric";\nif header :contains :comparator "i;ascii-numeric" "x" "1" { keep; }'), ['2:21: comparator "i;ascii-numeric" does not support :contains']);
  assert.deepEqual(compileErrors('if header :comparator "i;octet" :contains "Subject" "MAKE MONEY FAST" { discard; }'), []);
});

test('encoded-character (RFC 5228 §2.4.2.4): decoded only when required; bad Unicode is an error', () => {
  assert.deepEqual(compileErrors('require "encoded-character";\nif header :contains "Subject" "$${hex:24 24}" { discard; }'), []);
  assert.deepEqual(compileErrors('require "encoded-character";\nif header :contains "Subject" "${unicode:D800}" { discard; }'), ['2:31: invalid Unicode character D800 in ${unicode:...}']);
});

test('relational operator, :index rules, vacation :days with :seconds', () => {
  assert.deepEqual(compileErrors('require "relational";\nif header :value "zz" "x" "1" { keep; }'), ['2:11: bad relational operator "zz"']);
  assert.deepEqual(compileErrors('require "date";\nif date :last "date" "year" "2025" { keep; }'), ['2:9: :last needs require "index"']);
  assert.deepEqual(compileErrors('require ["date","index"];\nif date :last "date" "year" "2025" { keep; }'), ['2:9: :last needs :index']);
  assert.deepEqual(compileErrors('require "vacation-seconds";\nvacation :days 1 :seconds 60 "x";'), ['2:18: :seconds cannot be combined with :days']);
  assert.deepEqual(compileErrors('require "date";\nif currentdate "century" "21" { keep; }'), ['2:4: unknown date part "century"']);
});

test('variables: set modifiers of one precedence level exclude each other (RFC 5229 §4)', () => {
  assert.deepEqual(compileErrors('require "variables";\nset :lower :upper "a" "b";'), ['2:12: :upper cannot be combined with :lower']);
  assert.deepEqual(compileErrors('require "variables";\nset "1bad" "b";'), ['2:1: set: invalid variable name "1bad"']);
});

test('regex guard: back-references and look-around are refused at compile time', () => {
  assert.deepEqual(compileErrors('require "regex";\nif header :regex "subject" "(a)\\\\1" { keep; }'), ['2:4: back-references are not supported in :regex']);
  assert.deepEqual(compileErrors('require "regex";\nif header :regex "subject" "(?=a)" { keep; }'), ['2:4: look-around and "(?" groups are not POSIX regular expressions']);
  assert.deepEqual(compileErrors('require "regex";\nif header :regex "subject" "^(a+)+$" { keep; }'), []);
});

test('limits: script size and nesting depth', () => {
  assert.deepEqual(compileErrors('keep;'.repeat(100), { maxScriptBytes: 100 }), ['1:1: script larger than 100 bytes']);
  const deep = 'if true {'.repeat(40) + '}'.repeat(40);
  assert.match(compileErrors(deep, { maxNesting: 32 })[0]!, /nesting deeper than 32/);
  const notnot = 'if ' + 'not '.repeat(100) + 'true { keep; }';
  assert.match(compileErrors(notnot, { maxNesting: 32 })[0]!, /nesting deeper than 32/);
});

test('the capability list is what require accepts', () => {
  for (const e of SIEVE_EXTENSIONS) assert.deepEqual(compileErrors(`require "${e}";`), [], e);
  for (const e of ['fileinto', 'reject', 'ereject', 'envelope', 'encoded-character', 'variables', 'vacation', 'vacation-seconds', 'relational', 'imap4flags', 'subaddress', 'body', 'date', 'index', 'copy', 'mailbox', 'mboxmetadata', 'servermetadata', 'editheader', 'duplicate', 'include', 'spamtest', 'spamtestplus', 'virustest', 'environment', 'regex', 'comparator-i;octet', 'comparator-i;ascii-casemap', 'comparator-i;ascii-numeric', 'comparator-i;unicode-casemap']) {
    assert.ok(SIEVE_EXTENSIONS.includes(e), e);
  }
});
