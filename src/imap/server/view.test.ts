import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UidList } from './view.js';

test('UidList behaves like a sorted array under random pushes and removals', () => {
  let seed = 7;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const list = new UidList();
  const model: number[] = [];
  let next = 1;
  for (let step = 0; step < 5000; step++) {
    if (rnd(3) > 0 || model.length === 0) {
      next += rnd(4) === 0 ? 1 + rnd(5) : 0;
      list.push(next);
      model.push(next);
      next++;
    } else {
      const victim = rnd(4) === 0 ? next + 10 : model[rnd(model.length)]!;
      const i = model.indexOf(victim);
      if (i >= 0) model.splice(i, 1);
      assert.equal(list.remove(victim), i);
    }
    if (step % 97 === 0) {
      assert.equal(list.length, model.length);
      assert.deepEqual([...list], model);
      for (let k = 0; k < model.length; k += 7) {
        assert.equal(list.at(k), model[k]);
        assert.equal(list.indexOf(model[k]!), k);
      }
      assert.equal(list.last, model[model.length - 1] ?? 0);
      const lo = rnd(next + 1);
      const hi = lo + rnd(50);
      assert.deepEqual([...list.between(lo, hi)], model.filter((u) => u >= lo && u <= hi));
      assert.deepEqual([...list.above(lo)], model.filter((u) => u > lo).reverse());
    }
  }
  assert.ok(list.runs < model.length, 'runs are compact');
});

test('a 100,000-message mailbox with no holes is one run', () => {
  const list = new UidList();
  for (let u = 1; u <= 100_000; u++) list.push(u);
  assert.equal(list.runs, 1);
  assert.equal(list.at(49_999), 50_000);
  assert.equal(list.remove(50_000), 49_999);
  assert.equal(list.runs, 2);
  assert.equal(list.indexOf(50_001), 49_999);
});
