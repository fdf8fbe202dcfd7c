/**
 * The client's acceptance of fleet keys (spec ch. 7 and ch. 10), as `src/client/bundle.ts`
 * implements it, in its two modes. Pinned (WhatsApp): the app carries the fleet keys, and a
 * bundle the vault serves is acceptable only if its keys are the pinned ones. Over the air
 * (Messenger): the app carries the witness and operator keys and remembers the highest epoch it
 * accepted (and that bundle's digest); a bundle is refused, and nothing changes, when a signature,
 * the digest, the namespace or the timestamp window fails, when its epoch is below the highest,
 * when it differs from the accepted bundle of the same epoch (equivocation), or when a required
 * role is missing; otherwise its epoch becomes the highest.
 *
 * Bundles are named by their epoch, their `source` (the witness's genuine log, or a fork signed by
 * the same keys: same epochs, other digests) and a `defect` (one broken part, or none). The
 * checks run in `validateBundle`'s order: signatures, digest, namespace, window, then epoch, then
 * roles. `before` and `last` are ghost state (proof-only) for INV-13.
 * @module
 */
import { assertEvent, assign, setup, type SnapshotFrom } from 'xstate';
import type { Invariant } from './invariants.ts';

export type BundleSource = 'log' | 'fork';
export type BundleDefect =
  | 'none'
  | 'unsigned'
  | 'witnessSignature'
  | 'operatorSignature'
  | 'digest'
  | 'namespace'
  | 'timestamp'
  | 'role';

/** The refusal code of each defect checked before the epoch (validateBundle steps 1-7). */
export const DEFECT_CODES = {
  unsigned: 'BundleUnsigned',
  witnessSignature: 'WitnessSignatureInvalid',
  operatorSignature: 'OperatorSignatureInvalid',
  digest: 'DigestMismatch',
  namespace: 'NamespaceMismatch',
  timestamp: 'TimestampOutOfWindow',
} as const;

export type BundleOutcome =
  | 'accepted'
  | (typeof DEFECT_CODES)[keyof typeof DEFECT_CODES]
  | 'StaleEpoch'
  | 'LogEquivocation'
  | 'MissingRole'
  | 'KeyNotPinned';

interface Accepted {
  readonly highestEpoch: number;
  /** Which source the bundle accepted at `highestEpoch` came from. */
  readonly digest: BundleSource | null;
}

export interface BundleContext extends Accepted {
  readonly outcome: BundleOutcome | null;
  /** Ghost: the accepted state before the last validation, and the bundle it was given. */
  readonly before: Accepted;
  readonly last: { readonly epoch: number; readonly source: BundleSource; readonly defect: BundleDefect } | null;
}

export type BundleEvent =
  | { readonly type: 'InstallPinned' }
  | { readonly type: 'InstallOverTheAir' }
  | { readonly type: 'ValidatePinned'; readonly served: 'none' | 'pinned' | 'other' }
  | {
      readonly type: 'ValidateBundle';
      readonly epoch: number;
      readonly source: BundleSource;
      readonly defect: BundleDefect;
    };

const bundleOf = (e: BundleEvent) => (e.type === 'ValidateBundle' ? e : null);

export const bundleMachine = setup({
  types: {} as { context: BundleContext; events: BundleEvent },
  guards: {
    servesOtherKeys: ({ event }) => event.type === 'ValidatePinned' && event.served === 'other',
    /** Steps 1-7: a signature, the digest, the namespace or the window fails. */
    hasDefect: ({ event }) => {
      const b = bundleOf(event);
      return b !== null && b.defect !== 'none' && b.defect !== 'role';
    },
    isStaleEpoch: ({ context, event }) => (bundleOf(event)?.epoch ?? Infinity) < context.highestEpoch,
    /** Step 8: the same epoch as the accepted bundle, another digest. */
    isEquivocation: ({ context, event }) => {
      const b = bundleOf(event);
      return b !== null && b.epoch === context.highestEpoch && (b.defect === 'role' || b.source !== context.digest);
    },
    lacksRole: ({ event }) => bundleOf(event)?.defect === 'role',
  },
  actions: {
    remember: assign(({ context, event }) => {
      const b = bundleOf(event);
      return {
        before: { highestEpoch: context.highestEpoch, digest: context.digest },
        last: b && { epoch: b.epoch, source: b.source, defect: b.defect },
      };
    }),
    accept: assign(({ event }) => {
      const b = bundleOf(event);
      return b === null
        ? { outcome: 'accepted' as const }
        : { highestEpoch: b.epoch, digest: b.source, outcome: 'accepted' as const };
    }),
    refuseDefect: assign(({ event }) => {
      assertEvent(event, 'ValidateBundle');
      return { outcome: DEFECT_CODES[event.defect as keyof typeof DEFECT_CODES] };
    }),
    refuse: assign((_, params: { code: BundleOutcome }) => ({ outcome: params.code })),
  },
}).createMachine({
  id: 'bundle',
  initial: 'Installed',
  context: { highestEpoch: 0, digest: null, outcome: null, before: { highestEpoch: 0, digest: null }, last: null },
  states: {
    /** The app as shipped: which mode is fixed at build time. */
    Installed: {
      on: { InstallPinned: 'Pinned', InstallOverTheAir: 'OverTheAir' },
    },
    Pinned: {
      on: {
        ValidatePinned: [
          { guard: 'servesOtherKeys', actions: ['remember', { type: 'refuse', params: { code: 'KeyNotPinned' } }] },
          { actions: ['remember', 'accept'] },
        ],
      },
    },
    OverTheAir: {
      initial: 'NoFleet',
      states: {
        /** No bundle accepted yet: any epoch is new. */
        NoFleet: {
          on: {
            ValidateBundle: [
              { guard: 'hasDefect', actions: ['remember', 'refuseDefect'] },
              { guard: 'lacksRole', actions: ['remember', { type: 'refuse', params: { code: 'MissingRole' } }] },
              { target: 'Trusted', actions: ['remember', 'accept'] },
            ],
          },
        },
        Trusted: {
          on: {
            ValidateBundle: [
              { guard: 'hasDefect', actions: ['remember', 'refuseDefect'] },
              { guard: 'isStaleEpoch', actions: ['remember', { type: 'refuse', params: { code: 'StaleEpoch' } }] },
              {
                guard: 'isEquivocation',
                actions: ['remember', { type: 'refuse', params: { code: 'LogEquivocation' } }],
              },
              { guard: 'lacksRole', actions: ['remember', { type: 'refuse', params: { code: 'MissingRole' } }] },
              { actions: ['remember', 'accept'] },
            ],
          },
        },
      },
    },
  },
});

export type BundleSnapshot = SnapshotFrom<typeof bundleMachine>;

export const BUNDLE_INVARIANTS: readonly Invariant<BundleSnapshot>[] = [
  {
    id: 'INV-13',
    statement:
      'an accepted bundle is free of defects, its epoch is not below the highest accepted before it, ' +
      'and at that epoch it is the accepted bundle; a refused one changes nothing',
    holds: (s) => {
      const { outcome, last, before, highestEpoch, digest } = s.context;
      if (last === null) return true;
      if (outcome !== 'accepted') return highestEpoch === before.highestEpoch && digest === before.digest;
      const sameEpochOther =
        last.epoch === before.highestEpoch && before.digest !== null && last.source !== before.digest;
      return (
        last.defect === 'none' && last.epoch >= before.highestEpoch && !sameEpochOther && highestEpoch === last.epoch
      );
    },
  },
];
