import { parseArgs } from 'node:util';
import {
  ACTORS,
  type ActorName,
  type Disabled,
  enumerateFaults,
  FAULT_KINDS,
  FaultRun,
  PAIRS,
  type RunResult,
} from './harness.js';

/**
 * `npm run faults`: the whole fault matrix — every actor × every external call × crash-after and
 * lose-response, every process × deliver-twice — and seeded interleavings of actor pairs; prints the matrix
 * size and every breach, and exits 1 on any. `--disable lease|create-lookup` turns a protection off to show
 * the harness catches its absence; `--seeds N` sets the interleaving schedules (default 1,000 in all).
 */
const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1000' },
    disable: { type: 'string' },
    actor: { type: 'string', multiple: true },
    every: { type: 'string', default: '1' },
  },
});
const disabled = values.disable as Disabled | undefined;
if (disabled && disabled !== 'lease' && disabled !== 'create-lookup') {
  console.error('--disable must be lease or create-lookup');
  process.exit(2);
}
const actors = (values.actor as ActorName[] | undefined) ?? [...ACTORS];
const seeds = Number(values.seeds);
const every = Math.max(1, Number(values.every));

const started = performance.now();
const { faults } = await enumerateFaults(actors);
const breached: RunResult[] = [];
const matrix = new Map<string, { runs: number; breaches: number }>();
let runs = 0;
for (const [i, fault] of faults.entries()) {
  if (i % every !== 0) continue;
  const result = await new FaultRun({ fault, ...(disabled ? { disabled } : {}) }).run([fault.actor]);
  runs += 1;
  const cell = matrix.get(`${fault.actor} ${fault.kind}`) ?? { runs: 0, breaches: 0 };
  cell.runs += 1;
  if (result.breaches.length > 0) {
    cell.breaches += 1;
    breached.push(result);
  }
  matrix.set(`${fault.actor} ${fault.kind}`, cell);
  process.stderr.write(`\r${runs} single-actor runs`);
}
process.stderr.write('\n');

const interleavings = new Map<string, { runs: number; breaches: number }>();
const perPair = Math.max(1, Math.ceil(seeds / PAIRS.length));
for (const pair of PAIRS) {
  if (!pair.every((a) => actors.includes(a))) continue;
  const cell = { runs: 0, breaches: 0 };
  for (let seed = 1; seed <= perPair; seed++) {
    const result = await new FaultRun({ seed, ...(disabled ? { disabled } : {}) }).run([...pair]);
    cell.runs += 1;
    if (result.breaches.length > 0) {
      cell.breaches += 1;
      breached.push(result);
    }
    process.stderr.write(`\r${pair.join(' × ')}: ${cell.runs} schedules`);
  }
  interleavings.set(pair.join(' × '), cell);
  process.stderr.write('\n');
}

const rows = [...matrix].map(([key, cell]) => ({ key, ...cell }));
console.log(
  `fault matrix: ${actors.length} actors × their external calls × ${FAULT_KINDS.length} fault kinds = ${runs} runs`,
);
console.log('actor       fault           runs  breached');
for (const row of rows) {
  const [actor, kind] = row.key.split(' ');
  console.log(
    `${actor!.padEnd(11)} ${kind!.padEnd(14)} ${String(row.runs).padStart(5)}  ${String(row.breaches).padStart(8)}`,
  );
}
const schedules = [...interleavings.values()].reduce((n, c) => n + c.runs, 0);
console.log(`\ninterleavings: ${interleavings.size} actor pairs × seeded schedules = ${schedules} runs`);
for (const [pair, cell] of interleavings)
  console.log(`${pair.padEnd(22)} ${String(cell.runs).padStart(5)}  ${String(cell.breaches).padStart(8)}`);
console.log(
  `\n${runs + schedules} runs in ${((performance.now() - started) / 1000).toFixed(1)} s${disabled ? ` with ${disabled} disabled` : ''}`,
);
if (breached.length === 0) {
  console.log('0 breaches');
} else {
  console.log(`${breached.length} run(s) breached:`);
  for (const result of breached)
    for (const breach of result.breaches) console.log(`  ${result.label}: ${breach}`);
  process.exitCode = 1;
}
