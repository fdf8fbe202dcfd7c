/**
 * spec/10-models.md and the code move together: the diagrams are drawn from the machines'
 * definitions, and the tables of machines, invariants and broken variants and the example
 * counterexample are generated from the code (model/docs.ts). The test regenerates them and
 * fails when the chapter differs (fix: `npx tsx model/docs.ts`); the check is shown able to fail.
 */
import { readFileSync } from 'node:fs';
import { setup } from 'xstate';
import { describe, expect, test } from 'vitest';
import { listTransitions } from '../model/coverage.ts';
import { CHAPTER, MACHINES, checkChapter, renderBlocks, syncChapter } from '../model/docs.ts';
import { renderMermaid } from '../model/mermaid.ts';

const chapter = readFileSync(CHAPTER, 'utf8');

describe('spec/10-models.md is generated from the machines', () => {
  test('every generated block equals what the code gives (fix: npx tsx model/docs.ts)', () => {
    expect(checkChapter(chapter)).toEqual([]);
  });

  test.each(MACHINES.map((m) => [m.name, m] as const))(
    'the %s diagram has one edge (or note entry) per transition of the machine',
    (_, m) => {
      const diagram = renderMermaid(m.machine);
      const edges = diagram.split('\n').filter((l) => /^\s+\S+ --> \S+ : /.test(l)).length;
      const noted = diagram.match(/in every state: (.*)/)?.[1]?.split('; ').length ?? 0;
      expect(edges + noted).toBe(listTransitions(m.machine).length);
      expect(chapter).toContain(diagram);
    },
  );
});

describe('the check can fail', () => {
  test('a chapter whose diagram lost an edge is reported, and sync restores it', () => {
    const edited = chapter.replace(/\n {2}Registered --> Exhausted : [^\n]*/, '');
    expect(edited).not.toBe(chapter);
    expect(checkChapter(edited)).toEqual(['diagram record']);
    expect(syncChapter(edited)).toBe(chapter);
  });

  test('a machine given one more transition draws another diagram', () => {
    const states = { A: { on: { Go: 'B' } }, B: {} };
    const before = setup({}).createMachine({ id: 'm', initial: 'A', states });
    const after = setup({}).createMachine({ id: 'm', initial: 'A', states: { ...states, B: { on: { Back: 'A' } } } });
    expect(renderMermaid(after)).not.toBe(renderMermaid(before));
    expect(renderMermaid(after)).toContain('B --> A : Back');
    expect(renderBlocks().get('diagram record')).toContain(renderMermaid(MACHINES[0]!.machine));
  });
});
