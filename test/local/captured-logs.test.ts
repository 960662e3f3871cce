import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LeakScan, linesContaining } from '../../local/captured-logs.js';

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

  it('LeakScan, batched as lines are written, finds what a scan of every line at the end finds', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ issue: fc.stringMatching(/^[A-Za-z0-9]{4,12}$/) }),
            fc.record({
              // Punctuation only: a line holds a value only where one is planted in it.
              line: fc
                .array(fc.constantFrom(...' {}:",'.split('')), { maxLength: 20 })
                .map((c) => c.join('')),
              plant: fc.option(fc.nat()),
            }),
          ),
          { maxLength: 60 },
        ),
        fc.integer({ min: 1, max: 7 }),
        (events, batchSize) => {
          const issued: string[] = [];
          const lines: string[] = [];
          const scan = new LeakScan(() => issued, batchSize);
          for (const event of events) {
            if ('issue' in event) {
              issued.push(event.issue);
              continue;
            }
            // A line can hold only a value issued before it was written.
            const planted =
              event.plant !== null && issued.length > 0 ? issued[event.plant % issued.length]! : '';
            const line = `${event.line}${planted}`;
            lines.push(line);
            scan.sink(line);
          }
          assert.deepEqual(scan.leaks(), naive(lines, issued));
          assert.equal(scan.scanned(), lines.length);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
