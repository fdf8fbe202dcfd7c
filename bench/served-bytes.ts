/**
 * Bytes a served replica writes to its host storage (spec 15.6): a fleet of 3 replica processes on
 * memory HSMs, `clients` clients recovering back to back until `total` recoveries; each replica's
 * saves (`persists`) and the bytes its sealed storage wrote (`hostBytes` in its status; a replica
 * whose status has none rewrote its whole sealed file at each save, counted by sampling the file's
 * size at every change of `persists`). Not a timed bench: a count of bytes.
 *
 *   npx tsx bench/served-bytes.ts [total] [clients]
 * @module
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { seededRng } from '../src/crypto/rng.ts';
import { SEALED_FILE, replicaDir } from '../src/serve/layout.ts';
import type { ReplicaStatus } from '../src/serve/wire.ts';
import { ServedFleets, runRecoveries } from './suites/served-fleet.ts';

const total = Number(process.argv[2] ?? 300);
const clientCount = Number(process.argv[3] ?? 4);

type Counted = ReplicaStatus & { hostBytes?: number };

const fleets = await ServedFleets.create(
  (l) => console.log(l),
  (label) => seededRng(`served-bytes/${label}`),
);
try {
  const fleet = await fleets.up('memory', 3);
  const clients = await fleet.clients(clientCount);
  const start = (await fleet.statuses()) as (Counted | null)[];
  // sampled: the whole-file storage's bytes, as (saves since the last sample) x (the file's size now)
  const sampled = [0, 0, 0];
  const lastPersists = start.map((s) => s?.persists ?? 0);
  let running = true;
  const sampler = (async () => {
    while (running) {
      const now = (await fleet.statuses()) as (Counted | null)[];
      now.forEach((s, i) => {
        if (s === null) return;
        let size = 0;
        try {
          size = statSync(join(replicaDir(fleet.dir, i), SEALED_FILE)).size;
        } catch {}
        sampled[i]! += (s.persists - lastPersists[i]!) * size;
        lastPersists[i] = s.persists;
      });
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const run = await runRecoveries(clients, { ms: 600_000, perClient: Math.ceil(total / clientCount) }, 'bytes');
  running = false;
  await sampler;
  const end = (await fleet.statuses()) as (Counted | null)[];
  const n = run.latenciesMs.length;
  console.log(`${n} recoveries (${run.unavailable} unanswered) in ${(run.wallMs / 1000).toFixed(1)} s`);
  end.forEach((s, i) => {
    if (s === null || start[i] === null) return console.log(`r${i}: no status`);
    const saves = s.persists - start[i]!.persists;
    const counted = s.hostBytes !== undefined ? s.hostBytes - (start[i]!.hostBytes ?? 0) : null;
    const bytes = counted ?? sampled[i]!;
    let size = 0;
    try {
      size = statSync(join(replicaDir(fleet.dir, i), SEALED_FILE)).size;
    } catch {}
    console.log(
      `r${i} ${s.role}: log ${s.logLength}, ${saves} saves, ${bytes} bytes written ` +
        `(${counted === null ? 'sampled' : 'counted'}): ${(bytes / Math.max(1, saves)).toFixed(0)} per save, ` +
        `${(bytes / n).toFixed(0)} per recovery; ${SEALED_FILE} now ${size} bytes`,
    );
  });
} finally {
  await fleets.dispose();
}
