import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Shard } from './shard.js';
import { kernelModule } from './kernels.js';

test('scale tables live outside the scratch heap: a region of scratchLimit bytes fits after any earlier use', () => {
  const s = new Shard(0, kernelModule(), 1 << 20);
  const small = s.scratch(16 << 10, 1024, 0);
  const tables = [s.table('e4m3Half'), s.table('ggmlE8m0Half')];
  const big = s.scratch(s.scratchLimit, 0, 0); // threw "scratch bytes do not fit" when a table split the heap
  const end = big.x + s.scratchLimit;
  for (const t of tables) assert.ok(t + 1024 <= big.x || t >= end, `table at ${t} overlaps the scratch [${big.x}, ${end})`);
  assert.equal(s.table('e4m3Half'), tables[0], 'a table is written once');
  assert.ok(small.x >= tables[1]! + 1024 || small.x + 17 * 1024 <= tables[0]!);
  assert.throws(() => s.scratch(s.scratchBytes + 1, 0, 0), RangeError);
  const again = s.scratch(1024, 0, 0); // a failed request must not leave the freed region handed out
  assert.equal(s.scratch(1024, 0, 0).x, again.x);
});
