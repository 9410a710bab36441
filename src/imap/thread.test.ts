// RFC 5256 §3 threading algorithms, step by step, and the §4 thread-list form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { baseSubject } from './sort.js';
import { formatThreads, messageIds, referencesOf, threadOrderedSubject, threadReferences, type ThreadMsg, type ThreadNode } from './thread.js';

function msg(uid: number, subject: string, sent: number, id: string | null = null, refs: string[] = []): ThreadMsg {
  return { uid, subject: baseSubject(subject), sent, messageId: id, refs };
}
const show = (t: ThreadNode[]): string => formatThreads(t, (u) => u);

test('thread-list form (RFC 5256 §4): chains, nested lists, a top-level dummy', () => {
  const n = (uid: number | null, ...children: ThreadNode[]): ThreadNode => {
    const x: ThreadNode = { msg: uid === null ? null : msg(uid, '', 0), parent: null, children };
    for (const c of children) c.parent = x;
    return x;
  };
  // the RFC's example: (2)(3 6 (4 23)(44 7 96))
  assert.equal(show([n(2), n(3, n(6, n(4, n(23)), n(44, n(7, n(96)))))]), '(2)(3 6 (4 23)(44 7 96))');
  assert.equal(show([n(null, n(1), n(2, n(3)))]), '((1)(2 3))');
  assert.equal(show([]), '');
});

test('message IDs: <left@right>, comments skipped, In-Reply-To only without References (RFC 5256 §3 REFERENCES 1)', () => {
  assert.deepEqual(messageIds('<a@x> (comment <c@x>) <b@x>'), ['a@x', 'b@x']);
  assert.deepEqual(messageIds('<no-at-sign> junk <ok@x>'), ['ok@x']);
  assert.deepEqual(referencesOf('<a@x> <b@x>', '<c@x>'), ['a@x', 'b@x']);
  assert.deepEqual(referencesOf('garbage', '<c@x> <d@x>'), ['c@x']);
  assert.deepEqual(referencesOf(null, null), []);
});

test('ORDEREDSUBJECT: runs of one base subject, first by sent date is the parent; threads by their first date', () => {
  const t = threadOrderedSubject([msg(1, 'b', 3), msg(2, 'Re: a', 2), msg(3, 'a', 1), msg(4, 'B', 4), msg(5, 'Re: b', 5), msg(6, 'c', 2)]);
  assert.equal(show(t), '(3 2)(6)(1 (4)(5))');
  // equal dates: sequence order
  assert.equal(show(threadOrderedSubject([msg(2, 'x', 1), msg(1, 'x', 1)].reverse())), '(1 2)');
});

test('REFERENCES (1)(A): references link in order; a missing message is a dummy, pruned (3)', () => {
  const t = threadReferences([msg(1, 'a', 1, 'a@x'), msg(2, 'Re: a', 2, 'b@x', ['a@x']), msg(3, 'Re: a', 3, 'c@x', ['a@x', 'b@x']), msg(4, 'Re: a', 4, 'd@x', ['a@x'])]);
  assert.equal(show(t), '(1 (2 3)(4))');
  // the chain is built from the References of a later message even when the middle one is missing
  assert.equal(show(threadReferences([msg(1, 'a', 1, 'a@x'), msg(2, 'Re: a', 2, 'c@x', ['a@x', 'b@x'])])), '(1 2)');
});

test('REFERENCES (3): a top-level dummy is kept with several children, promoted with one', () => {
  assert.equal(show(threadReferences([msg(1, 'one', 1, 'p@x', ['gone@x']), msg(2, 'two', 2, 'q@x', ['gone@x'])])), '((1)(2))');
  assert.equal(show(threadReferences([msg(1, 'one', 1, 'p@x', ['gone@x'])])), '(1)');
});

test('REFERENCES (1): loops are not created, whatever the references say', () => {
  assert.equal(show(threadReferences([msg(1, 'a', 1, 'a@x', ['b@x']), msg(2, 'b', 2, 'b@x', ['a@x'])])), '(2 1)');
  // a message referring to itself, and a References chain with a repeated ID
  assert.equal(show(threadReferences([msg(1, 'a', 1, 'a@x', ['a@x'])])), '(1)');
  assert.equal(show(threadReferences([msg(1, 'a', 1, 'a@x'), msg(2, 'b', 2, 'b@x', ['a@x', 'b@x', 'a@x'])])), '(1 2)');
});

test('REFERENCES (1)(A): a duplicate Message-ID gets a unique one (the first message keeps it); IDs are case-sensitive', () => {
  const t = threadReferences([msg(1, 'a', 1, 'a@x'), msg(2, 'b', 2, 'a@x'), msg(3, 'c', 3, 'c@x', ['a@x']), msg(4, 'd', 4, 'd@x', ['A@x'])]);
  assert.equal(show(t), '(1 3)(2)(4)');
});

test('REFERENCES (1)(B): the last reference wins over a parent presumed from another message', () => {
  // 1 says a -> b -> 1; then b itself arrives saying its parent is z
  const t = threadReferences([msg(1, 'x', 1, 'c@x', ['a@x', 'b@x']), msg(2, 'y', 2, 'b@x', ['z@x'])]);
  assert.equal(show(t), '(2 1)');
  // (1)(A) an existing link between references is kept (truncated References elsewhere)
  const u = threadReferences([msg(1, 'p', 1, 'p@x'), msg(2, 'q', 2, 'q@x'), msg(3, 'r', 3, 'r@x', ['p@x', 'm@x']), msg(4, 's', 4, 's@x', ['q@x', 'm@x'])]);
  assert.equal(show(u), '(1 (3)(4))(2)');
});

test('REFERENCES (5): threads of one base subject merge', () => {
  // a reply without references goes under the original
  assert.equal(show(threadReferences([msg(1, 'hello', 1, 'a@x'), msg(2, 'Re: hello', 2, 'b@x')])), '(1 2)');
  // ... also when the reply came first (the table prefers the non-reply)
  assert.equal(show(threadReferences([msg(1, 'Re: hello', 1, 'b@x'), msg(2, 'hello', 2, 'a@x')])), '(2 1)');
  // both replies, or neither: siblings under a dummy
  assert.equal(show(threadReferences([msg(1, 'Re: x', 1), msg(2, 'Re: x', 2)])), '((1)(2))');
  assert.equal(show(threadReferences([msg(1, 'x', 1), msg(2, 'x', 2), msg(3, 'Fwd: x', 3)])), '((1)(2)(3))');
  // a dummy thread absorbs a message of its subject; an empty subject is never merged
  assert.equal(show(threadReferences([msg(1, 'Re: t', 1, 'p@x', ['gone@x']), msg(2, 'Re: t', 2, 'q@x', ['gone@x']), msg(3, 't', 3)])), '((1)(2)(3))');
  assert.equal(show(threadReferences([msg(1, '', 1), msg(2, 'Re:', 2)])), '(1)(2)');
});

test('REFERENCES (4)(6): siblings by sent date at every level, ties in sequence order', () => {
  const t = threadReferences([msg(1, 'r', 5, 'r@x'), msg(2, 'k', 9, 'k1@x', ['r@x']), msg(3, 'k', 7, 'k2@x', ['r@x']), msg(4, 'g', 1, 'g@x', ['r@x', 'k1@x']), msg(5, 'g', 0, 'h@x', ['r@x', 'k1@x']), msg(6, 'z', 0)]);
  assert.equal(show(t), '(6)(1 (3)(2 (5)(4)))');
});

test('REFERENCES over a 20,000-message chain: no recursion limit', () => {
  const msgs = Array.from({ length: 20_000 }, (_, i) => msg(i + 1, 'Re: long', i, `m${i}@x`, i ? [`m${i - 1}@x`] : []));
  const out = show(threadReferences(msgs));
  assert.ok(out.startsWith('(1 2 3 '));
  assert.ok(out.endsWith(' 19999 20000)'));
  assert.equal(show(threadOrderedSubject(msgs)).length > 0, true);
});
