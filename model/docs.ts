/**
 * The generated parts of spec/10-models.md: each machine's diagram (mermaid.ts), the size of each
 * machine, every invariant predicate with its statement, the broken variants in the explorer's
 * scope, and one counterexample of the explorer. A block is delimited by `<!-- generated: NAME -->`
 * and `<!-- /generated -->`;
 * `test/model-diagrams.test.ts` fails when a block differs from what the code gives.
 *
 *   npx tsx model/docs.ts      rewrites the blocks of spec/10-models.md
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { AnyStateMachine } from 'xstate';
import { BUNDLE_INVARIANTS, bundleMachine } from './bundle-machine.ts';
import { listStateNodes, listTransitions } from './coverage.ts';
import { BROKEN, getBroken } from '../src/broken/catalog.ts';
import { explorationOf } from '../src/explore/explore.ts';
import { RULES } from '../src/replication/host.ts';
import type { Invariant } from './invariants.ts';
import { renderMermaid } from './mermaid.ts';
import { RECORD_INVARIANTS, recordMachine } from './record-machine.ts';
import { REPLICA_INVARIANTS, replicaMachine } from './replica-machine.ts';
import { SESSION_INVARIANTS, sessionMachine } from './session-machine.ts';

export const CHAPTER = join(dirname(fileURLToPath(import.meta.url)), '..', 'spec', '10-models.md');

export const MACHINES: readonly {
  readonly name: string;
  readonly machine: AnyStateMachine;
  readonly module: string;
  readonly invariants: readonly Invariant<never>[];
}[] = [
  { name: 'record', machine: recordMachine, module: 'model/record-machine.ts', invariants: RECORD_INVARIANTS },
  { name: 'session', machine: sessionMachine, module: 'model/session-machine.ts', invariants: SESSION_INVARIANTS },
  { name: 'replica', machine: replicaMachine, module: 'model/replica-machine.ts', invariants: REPLICA_INVARIANTS },
  { name: 'bundle', machine: bundleMachine, module: 'model/bundle-machine.ts', invariants: BUNDLE_INVARIANTS },
];

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** Every generated block, by name. */
export function renderBlocks(): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const m of MACHINES) blocks.set(`diagram ${m.name}`, ['```mermaid', renderMermaid(m.machine), '```'].join('\n'));
  blocks.set(
    'machines',
    [
      '| machine | module | states | transitions | invariants |',
      '|---|---|---|---|---|',
      ...MACHINES.map((m) => {
        const states = listStateNodes(m.machine).length - 1;
        const transitions = listTransitions(m.machine).length;
        const invariants = m.invariants.map((i) => i.id).join(', ');
        return `| ${m.machine.id} | \`${m.module}\` | ${states} | ${transitions} | ${invariants} |`;
      }),
    ].join('\n'),
  );
  blocks.set(
    'invariants',
    [
      '| invariant | model | what the predicate says there |',
      '|---|---|---|',
      ...MACHINES.flatMap((m) =>
        m.invariants.map((i) => `| ${i.id} | ${m.machine.id} machine | ${cell(i.statement)} |`),
      ),
    ].join('\n'),
  );
  const scoped = BROKEN.filter((b) => b.explore !== undefined);
  blocks.set(
    'mutants',
    [
      '| `--broken` | what is broken | explored in | caught by |',
      '|---|---|---|---|',
      ...scoped.map(
        (b) => `| \`${b.name}\` | ${cell(b.summary)} | ${cell(explorationOf(b).describe)} | ${b.expected.join(', ')} |`,
      ),
    ].join('\n'),
  );
  blocks.set('example', ['```', ...renderExample('vote-not-persisted'), '```'].join('\n'));
  return blocks;
}

/** The counterexample the explorer prints for a broken variant (its actions, no timings). */
export function renderExample(name: string): string[] {
  const b = getBroken(name);
  const r = explorationOf(b).run(b.rules(RULES));
  if (r.violation === null) throw new Error(`${name} is not caught`);
  const v = r.violation;
  return [
    `${v.invariant} violated: ${v.detail}`,
    '0. the initial state',
    ...v.trace.map((action, k) => `${k + 1}. ${action}`),
  ];
}

/** A block: its opening marker, its lines, its closing marker (each on a line of its own; the body may be empty). */
const BLOCK = /<!-- generated: ([^>]+?) -->\n((?:(?!<!-- \/?generated)[\s\S])*?)<!-- \/generated -->/g;

/** The names of the blocks whose text differs from the code's, and of those missing from the chapter. */
export function checkChapter(text: string, blocks = renderBlocks()): string[] {
  const found = new Map([...text.matchAll(BLOCK)].map((m) => [m[1]!, m[2]!]));
  return [...blocks].filter(([name, body]) => found.get(name) !== `${body}\n`).map(([name]) => name);
}

/** The chapter with every block rewritten from the code. */
export function syncChapter(text: string, blocks = renderBlocks()): string {
  return text.replace(BLOCK, (whole, name: string) => {
    const body = blocks.get(name);
    return body === undefined ? whole : `<!-- generated: ${name} -->\n${body}\n<!-- /generated -->`;
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const text = readFileSync(CHAPTER, 'utf8');
  const next = syncChapter(text);
  writeFileSync(CHAPTER, next);
  const missing = checkChapter(next);
  console.log(
    next === text
      ? 'spec/10-models.md: every generated block is up to date'
      : 'spec/10-models.md: generated blocks rewritten',
  );
  if (missing.length > 0) console.log(`blocks missing from the chapter: ${missing.join(', ')}`);
}
