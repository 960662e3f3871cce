import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { linesContaining } from '../../local/captured-logs.js';

/** The scan the rehearsal's invariant 5 rests on, against the obvious one: every line with any value in it. */
const naive = (lines: string[], values: string[]) =>
  lines.filter((line) => values.some((v) => v.length > 0 && line.includes(v)));

describe('linesContaining (the secret scan of log lines)', () => {
  it('finds exactly the lines the obvious scan finds, for generated lines and values of any length', () => {
    const alphabet = fc.constantFrom(...'abAB01._-"{}: '.split(''));
    const text = (max: number) => fc.array(alphabet, { maxLength: max }).map((cs) => cs.join(''));
    fc.assert(
      fc.property(
        fc.array(text(20), { maxLength: 12 }),
        fc.array(text(40), { maxLength: 12 }),
        fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat()), { maxLength: 6 }),
        (values, lines, plants) => {
          // Plant some values inside some lines, so hits are common, not only chance.
          const planted = [...lines];
          for (const [v, l, at] of plants) {
            if (values.length === 0 || planted.length === 0) break;
            const line = planted[l % planted.length]!;
            const cut = at % (line.length + 1);
            planted[l % planted.length] = line.slice(0, cut) + values[v % values.length]! + line.slice(cut);
          }
          assert.deepEqual(linesContaining(planted, values), naive(planted, values));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('finds a key value inside a JSON log line among thousands of values', () => {
    const values = Array.from(
      { length: 3000 },
      (_, i) => `SG.${i.toString(36).padStart(6, '0')}.secretpart${i}`,
    );
    const lines = [
      JSON.stringify({ level: 'info', message: 'rotated', keyId: 'k-1' }),
      JSON.stringify({ level: 'error', message: `provider said: bad key ${values[2999]}` }),
    ];
    assert.deepEqual(linesContaining(lines, values), [lines[1]]);
  });
});
