/**
 * Symmetry reduction for the fleet model (spec ch. 10, "Canonical states"). Replicas are
 * interchangeable, and so are credentials, and so are sessions: renaming any of them maps
 * reachable states to reachable states, actions to actions and every invariant to itself. The
 * explorer stores one representative per class, the canonical state: the lexicographically least
 * byte string among the renamings that sort replicas, credentials and sessions by keys that no
 * renaming changes (which renamings do that is itself independent of the names, so two states of
 * one class get the same representative). A trace is replayed in the initial state's names
 * (`FleetSymmetry.renameAction`), so it reads as one consistent schedule.
 * @module
 */
import { ACTION, FleetLayout, entryTerm } from './fleet-state.ts';

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, at) => [...p.slice(0, at), n - 1, ...p.slice(at)]));
}

/** A renaming: replica i becomes replicas[i], credential c becomes credentials[c], session k becomes sessions[k]. */
export interface Renaming {
  readonly replicas: readonly number[];
  readonly credentials: readonly number[];
  readonly sessions: readonly number[];
}

/** An entry with its session renamed by S. */
function renameEntry(e: number, sessions: number, S: readonly number[]): number {
  if (e === 0) return 0;
  const c = (e & 31) - 1;
  return entryTerm(e) * 32 + 1 + Math.floor(c / sessions) * sessions + S[c % sessions]!;
}

export interface SymmetryOptions {
  readonly replicas?: boolean;
  readonly credentials?: boolean;
  readonly sessions?: boolean;
}

export class FleetSymmetry {
  readonly #replicaPerms: number[][];
  readonly #credentialPerms: number[][];
  readonly #sessionPerms: number[][];
  readonly #scratch: Uint8Array;
  readonly #best: Uint8Array;
  readonly #keys: Float64Array;
  readonly #at: Float64Array;
  readonly #rs: number[][] = [];
  readonly #cs: number[][] = [];
  readonly #ss: number[][] = [];
  readonly #blank: Uint8Array;
  readonly #sig: Float64Array;
  readonly #sessionKeyValues: Float64Array;

  constructor(
    readonly layout: FleetLayout,
    o: SymmetryOptions = {},
  ) {
    const all = (on: boolean | undefined, n: number) => (on === false ? [[...Array(n).keys()]] : permutations(n));
    this.#replicaPerms = all(o.replicas, layout.n);
    this.#credentialPerms = all(o.credentials, layout.cfg.credentials);
    this.#sessionPerms = all(o.sessions, layout.cfg.sessions);
    this.#scratch = new Uint8Array(layout.size);
    this.#best = new Uint8Array(layout.size);
    this.#keys = new Float64Array(Math.max(layout.n, layout.cfg.credentials, layout.cfg.sessions));
    this.#at = new Float64Array(this.#keys.length);
    this.#blank = new Uint8Array(this.#keys.length);
    this.#sig = new Float64Array(layout.cfg.sessions);
    this.#sessionKeyValues = new Float64Array(layout.cfg.sessions);
  }

  /** How many renamings there are in all. */
  get size(): number {
    return this.#replicaPerms.length * this.#credentialPerms.length * this.#sessionPerms.length;
  }

  /** Writes the renaming `p` of `s` into `out` (not `s` itself). */
  rename(s: Uint8Array, p: Renaming, out: Uint8Array): void {
    this.#rename(s, p.replicas, p.credentials, p.sessions, out);
  }

  #rename(s: Uint8Array, R: readonly number[], C: readonly number[], S: readonly number[], out: Uint8Array): void {
    const L = this.layout;
    const n = L.n;
    const sessions = L.cfg.sessions;
    const part = s[L.partition]!;
    out[L.partition] = part === 0 ? 0 : R[part - 1]! + 1;
    for (let i = 0; i < n; i++) {
      const from = L.r(i);
      const to = L.r(R[i]!);
      out[to + FleetLayout.TERM] = s[from + FleetLayout.TERM]!;
      const voted = s[from + FleetLayout.VOTED]!;
      out[to + FleetLayout.VOTED] = voted === 0 ? 0 : R[voted - 1]! + 1;
      out[to + FleetLayout.ROLE] = s[from + FleetLayout.ROLE]!;
      let votes = 0;
      const v = s[from + FleetLayout.VOTES]!;
      for (let j = 0; j < n; j++) if (v & (1 << j)) votes |= 1 << R[j]!;
      out[to + FleetLayout.VOTES] = votes;
      out[to + FleetLayout.COMMIT] = s[from + FleetLayout.COMMIT]!;
      out[to + FleetLayout.LEN] = s[from + FleetLayout.LEN]!;
      for (let j = 0; j < n; j++) out[to + FleetLayout.MATCH + R[j]!] = s[from + FleetLayout.MATCH + j]!;
      for (let x = 0; x < L.cfg.maxLog; x++) out[to + L.logOffset + x] = renameEntry(s[from + L.logOffset + x]!, sessions, S);
    }
    for (let k = 0; k < sessions; k++) {
      const from = L.s(k);
      const to = L.s(S[k]!);
      const started = s[from + FleetLayout.PASSWORD]! !== 0;
      out[to + FleetLayout.CRED] = started ? C[s[from + FleetLayout.CRED]!]! : 0;
      out[to + FleetLayout.PASSWORD] = s[from + FleetLayout.PASSWORD]!;
      out[to + FleetLayout.MSG] = s[from + FleetLayout.MSG]!;
      const ch = s[from + FleetLayout.CHANNEL]!;
      out[to + FleetLayout.CHANNEL] = ch === 0 ? 0 : R[ch - 1]! + 1;
      out[to + FleetLayout.OP] = s[from + FleetLayout.OP]!;
    }
    for (let c = 0; c < L.cfg.credentials; c++) out[L.spentBase + C[c]!] = s[L.spentBase + c]!;
    for (let x = L.ledTerms; x < L.committedBase; x++) out[x] = s[x]!;
    for (let x = 0; x < L.cfg.maxLog; x++) out[L.committedBase + x] = renameEntry(s[L.committedBase + x]!, sessions, S);
    for (let x = L.commitTermBase; x < L.size; x++) out[x] = s[x]!;
  }

  // Keys that no renaming changes: a renaming is tried only if it sorts each kind by its key.

  #replicaKey(s: Uint8Array, i: number): number {
    const L = this.layout;
    const r = L.r(i);
    let h = 0;
    for (let x = 0; x < L.cfg.maxLog; x++) {
      const e = s[r + L.logOffset + x]!;
      h = h * 13 + (e === 0 ? 0 : entryTerm(e) * 4 + 1 + Math.floor(((e & 31) - 1) / L.cfg.sessions));
    }
    const voted = s[r + FleetLayout.VOTED]!;
    let matched = 0;
    for (let j = 0; j < L.n; j++) matched += s[r + FleetLayout.MATCH + j]!;
    const head = (((s[r + FleetLayout.TERM]! * 4 + s[r + FleetLayout.ROLE]!) * 16 + s[r + FleetLayout.LEN]!) * 16 + s[r + FleetLayout.COMMIT]!) * 3 + (voted === 0 ? 0 : voted === i + 1 ? 1 : 2);
    return (head * 64 + matched) * 1e6 + (h % 1e6);
  }

  /** The sum of its sessions' keys, its spent guesses and how many sessions it has. */
  #credentialKey(s: Uint8Array, c: number, sessionKeys: Float64Array): number {
    const L = this.layout;
    let used = 0;
    let sum = 0;
    for (let k = 0; k < L.cfg.sessions; k++) {
      if (s[L.s(k) + FleetLayout.PASSWORD] !== 0 && s[L.s(k) + FleetLayout.CRED] === c) {
        used++;
        sum = (sum + sessionKeys[k]!) % 1e9;
      }
    }
    return (s[L.spentBase + c]! * 16 + used) * 1e9 + sum;
  }

  /**
   * Its phase, and, when two started sessions share a phase, where its commands sit in the logs
   * (a sum over entries: no order to depend on).
   */
  #sessionKeys(s: Uint8Array, into: Float64Array): void {
    const L = this.layout;
    const sessions = L.cfg.sessions;
    let tie = false;
    for (let k = 0; k < sessions; k++) {
      const b = L.s(k);
      const phase = ((s[b + FleetLayout.PASSWORD]! * 8 + s[b + FleetLayout.MSG]!) * 8 + s[b + FleetLayout.OP]!) * 2 + (s[b + FleetLayout.CHANNEL] === 0 ? 0 : 1);
      into[k] = phase * 1e6;
      if (s[b + FleetLayout.PASSWORD] !== 0) for (let j = 0; j < k; j++) if (into[j] === into[k]) tie = true;
    }
    if (!tie) return;
    const sig = this.#sig;
    sig.fill(0);
    const stride = L.replicaSize;
    for (let i = 0; i <= L.n; i++) {
      // the replicas' logs, then the committed prefix (its own salt)
      const base = i < L.n ? L.r(i) + L.logOffset : L.committedBase;
      const salt = i < L.n ? 1 : 7;
      for (let x = 0; x < L.cfg.maxLog; x++) {
        const e = s[base + x]!;
        if (e === 0) continue;
        const c = (e & 31) - 1;
        const k = c % sessions;
        sig[k] = (sig[k]! + ((x * 7 + Math.floor(c / sessions)) * 8 + (e >> 5)) * 31 + salt) % 1e6;
      }
      void stride;
    }
    for (let k = 0; k < sessions; k++) into[k] = into[k]! + sig[k]!;
  }

  /**
   * Writes into `into` the permutations among `perms` that put `keys` in non-decreasing order of
   * new names; returns how many. Elements marked `blank` (an unstarted session, an unused
   * credential: all-zero and named nowhere) are interchangeable without changing a byte, so only
   * the permutations that keep them in their order are kept.
   */
  #sorting(perms: readonly number[][], keys: Float64Array, blank: Uint8Array, n: number, into: number[][]): number {
    const at = this.#at;
    let m = 0;
    for (const to of perms) {
      for (let x = 0; x < n; x++) at[to[x]!] = keys[x]!;
      let ok = true;
      for (let x = 1; x < n && ok; x++) if (at[x - 1]! > at[x]!) ok = false;
      for (let x = 0, last = -1; x < n && ok; x++) {
        if (blank[x] === 0) continue;
        if (to[x]! < last) ok = false;
        last = to[x]!;
      }
      if (ok) into[m++] = to;
    }
    return m;
  }

  /** Writes the canonical representative of `s` into `out`; returns the renaming that gives it. */
  canonicalize(s: Uint8Array, out: Uint8Array): Renaming {
    const L = this.layout;
    const keys = this.#keys;
    const blank = this.#blank;
    blank.fill(0);
    for (let i = 0; i < L.n; i++) keys[i] = this.#replicaKey(s, i);
    const nr = this.#sorting(this.#replicaPerms, keys, blank, L.n, this.#rs);
    const sk = this.#sessionKeyValues;
    this.#sessionKeys(s, sk);
    for (let c = 0; c < L.cfg.credentials; c++) {
      keys[c] = this.#credentialKey(s, c, sk);
      blank[c] = keys[c] === 0 ? 1 : 0;
    }
    const nc = this.#sorting(this.#credentialPerms, keys, blank, L.cfg.credentials, this.#cs);
    for (let k = 0; k < L.cfg.sessions; k++) {
      keys[k] = sk[k]!;
      blank[k] = s[L.s(k) + FleetLayout.PASSWORD] === 0 ? 1 : 0;
    }
    const ns = this.#sorting(this.#sessionPerms, keys, blank, L.cfg.sessions, this.#ss);
    blank.fill(0);
    if (nr * nc * ns === 1) {
      this.#rename(s, this.#rs[0]!, this.#cs[0]!, this.#ss[0]!, out);
      return { replicas: this.#rs[0]!, credentials: this.#cs[0]!, sessions: this.#ss[0]! };
    }
    const best = this.#best;
    const scratch = this.#scratch;
    let br = 0;
    let bc = 0;
    let bs = 0;
    this.#rename(s, this.#rs[0]!, this.#cs[0]!, this.#ss[0]!, best);
    for (let a = 0; a < nr; a++) {
      for (let b = 0; b < nc; b++) {
        for (let d = 0; d < ns; d++) {
          if (a === 0 && b === 0 && d === 0) continue;
          this.#rename(s, this.#rs[a]!, this.#cs[b]!, this.#ss[d]!, scratch);
          let cmp = 0;
          for (let x = 0; x < scratch.length && cmp === 0; x++) cmp = scratch[x]! - best[x]!;
          if (cmp < 0) {
            best.set(scratch);
            br = a;
            bc = b;
            bs = d;
          }
        }
      }
    }
    out.set(best);
    return { replicas: this.#rs[br]!, credentials: this.#cs[bc]!, sessions: this.#ss[bs]! };
  }

  /** The inverse of renaming `p`. */
  static invert(p: Renaming): Renaming {
    const inv = (a: readonly number[]) => {
      const out = new Array<number>(a.length);
      a.forEach((to, from) => (out[to] = from));
      return out;
    };
    return { replicas: inv(p.replicas), credentials: inv(p.credentials), sessions: inv(p.sessions) };
  }

  /** An action with its replica, credential and session arguments renamed by `p`. */
  static renameAction(code: number, p: Renaming): number {
    const kind = code & 255;
    let a = (code >> 8) & 255;
    let b = (code >> 16) & 255;
    const c = (code >> 24) & 255;
    switch (kind) {
      case ACTION.ElectionTimeout:
      case ACTION.Restart:
      case ACTION.Partition:
        a = p.replicas[a]!;
        break;
      case ACTION.RequestVote:
      case ACTION.AppendEntries:
      case ACTION.AppendEntriesLost:
        a = p.replicas[a]!;
        b = p.replicas[b]!;
        break;
      case ACTION.HandleRecoverStart:
      case ACTION.HandleRecoverFinish:
      case ACTION.HandleRecoverAbort:
      case ACTION.SessionExpiry:
        a = p.replicas[a]!;
        b = p.sessions[b]!;
        break;
      case ACTION.RecoverStart:
        a = p.sessions[a]!;
        b = p.credentials[b]!;
        break;
      case ACTION.DropMessage:
      case ACTION.OnRecoverResponse:
        a = p.sessions[a]!;
        break;
    }
    return kind | (a << 8) | (b << 16) | (c << 24);
  }
}
