/**
 * Mermaid state diagrams drawn from the machines' definitions (spec ch. 10), so that the diagrams
 * in the spec are the machines: `test/model-diagrams.test.ts` regenerates them and fails when
 * spec/10-models.md differs (fix: `npx tsx model/docs.ts`).
 *
 * Each transition is an edge `Source --> Target : Event [guard] / action, action(param)`; a
 * transition that stays in its state is a self-loop (a composite state's transition into one of
 * its own children too, naming the child); a transition declared on the machine itself (it
 * applies in every state) is listed in a note.
 * @module
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { type TransitionInfo, listTransitions } from './coverage.ts';

function actionLabel(a: unknown): string | null {
  if (typeof a === 'string') return a;
  if (a && typeof a === 'object' && 'type' in a && typeof (a as { type: unknown }).type === 'string') {
    const { type, params } = a as { type: string; params?: Record<string, unknown> };
    return params ? `${type}(${Object.values(params).map(String).join(', ')})` : type;
  }
  return null;
}

export function transitionLabel(t: TransitionInfo): string {
  const actions = t.definition.actions.map(actionLabel).filter((x: string | null): x is string => x !== null);
  return `${t.event}${t.guard ? ` [${t.guard}]` : ''}${actions.length ? ` / ${actions.join(', ')}` : ''}`;
}

/**
 * The machine as a mermaid `stateDiagram-v2`; `mark` appends to each transition's label (a report's coverage marks).
 */
export function renderMermaid(machine: AnyStateMachine, mark: (t: TransitionInfo) => string = () => ''): string {
  const transitions = listTransitions(machine);
  // mermaid ids: the state's key, or its path when two states share a key
  const nodes: AnyStateNode[] = [];
  const collect = (n: AnyStateNode) => {
    for (const c of Object.values(n.states)) {
      nodes.push(c);
      collect(c);
    }
  };
  collect(machine.root);
  const keyCount = new Map<string, number>();
  for (const n of nodes) keyCount.set(n.key, (keyCount.get(n.key) ?? 0) + 1);
  const ids = new Map<string, string>(nodes.map((n) => [n.id, keyCount.get(n.key)! > 1 ? n.path.join('_') : n.key]));
  const idOf = (stateId: string) => {
    const id = ids.get(stateId);
    if (id === undefined) throw new Error(`no diagram id for ${stateId}`);
    return id;
  };
  const lines = ['stateDiagram-v2'];
  const emitChildren = (parent: AnyStateNode, indent: string) => {
    const children = Object.values(parent.states);
    if (children.length === 0) return;
    const initial = parent.config.initial;
    if (typeof initial === 'string') lines.push(`${indent}[*] --> ${idOf(parent.states[initial]!.id)}`);
    for (const c of children) {
      if (Object.keys(c.states).length === 0) {
        lines.push(`${indent}${idOf(c.id)}`);
        continue;
      }
      lines.push(`${indent}state ${idOf(c.id)} {`);
      emitChildren(c, `${indent}  `);
      lines.push(`${indent}}`);
    }
  };
  emitChildren(machine.root, '  ');
  const everywhere: string[] = [];
  for (const t of transitions) {
    if (t.source === machine.root.id) {
      everywhere.push(transitionLabel(t) + mark(t));
      continue;
    }
    const from = idOf(t.source);
    const target = t.targets[0];
    // a transition of a composite state into one of its own children: a self-loop naming the child
    const inner = target !== undefined && target.startsWith(`${t.source}.`);
    const to = target === undefined || inner ? from : idOf(target);
    lines.push(`  ${from} --> ${to} : ${transitionLabel(t)}${inner ? ` (to ${idOf(target)})` : ''}${mark(t)}`);
  }
  if (everywhere.length > 0) {
    const first = Object.values(machine.root.states)[0]!;
    lines.push(`  note right of ${idOf(first.id)}`);
    lines.push(`    in every state: ${everywhere.join('; ')}`);
    lines.push('  end note');
  }
  return lines.join('\n');
}
