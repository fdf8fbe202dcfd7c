/**
 * No acknowledged registration lost (INV-6, spec ch. 12), on a history: a witness is a recovery
 * with the password of an acknowledged registration, invoked after that acknowledgement, answered
 * `WrongPassword`, when no other registration of the credential with another password, and no
 * deletion of it (one that may have happened), could come between the two. The record model then
 * has no state in which that
 * answer is possible but the one where the registration is gone: such a history is never
 * linearizable (INV-5), and the witness says why.
 * @module
 */
import { type Operation, describeOperation } from './history.ts';

export function findLostRegistration(ops: readonly Operation[]): string | null {
  for (const x of ops) {
    if (x.completion !== 'ok' || x.input.kind !== 'recover' || x.output?.kind !== 'WrongPassword') continue;
    const password = x.input.password;
    const registers = ops.filter(
      (o) => o.credential === x.credential && o.input.kind === 'register' && o.completion !== 'fail',
    );
    const deletes = ops.filter(
      (o) => o.credential === x.credential && o.input.kind === 'delete' && o.completion !== 'fail',
    );
    for (const r of registers) {
      if (r.completion !== 'ok' || r.input.kind !== 'register' || r.input.password !== password || r.return >= x.call)
        continue;
      // another registration that may come after r and before x, with another password, explains x
      const between = (q: Operation) => q.return > r.call && q.call < x.return;
      const explained =
        registers.some((q) => q !== r && q.input.kind === 'register' && q.input.password !== password && between(q)) ||
        deletes.some(between);
      if (!explained) return `acknowledged registration lost: ${describeOperation(r)}, then ${describeOperation(x)}`;
    }
  }
  return null;
}
