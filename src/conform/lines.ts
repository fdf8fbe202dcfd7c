/**
 * JSON lines over a child process's stdio, one request and one response at a time (spec ch. 9,
 * "Running another implementation"). The adapter runs through the shell in a process group of its
 * own, so that ending it ends everything it started (the shell, the adapter, their children):
 * `close()` ends its stdin, gives it a moment, then kills the group; the group is killed too when
 * bkv exits or gets SIGINT, SIGTERM or SIGHUP while the channel is open. Each answer has a
 * deadline (`timeoutMs`): an adapter that never answers ends the conversation with a line that
 * says so, as does one that exits or writes something other than JSON.
 * @module
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** The default deadline for each answer of an adapter. */
export const DEFAULT_ADAPTER_TIMEOUT_MS = 10_000;
/** How long `close()` lets the adapter end by itself after its stdin closes. */
const GRACE_MS = 1000;
/** How long after the adapter exits its last lines may take to arrive. */
const DRAIN_MS = 200;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export class LineChannel {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #command: string;
  readonly #timeoutMs: number;
  readonly #queue: string[] = [];
  readonly #waiting: ((line: string | null) => void)[] = [];
  #ended: string | null = null;
  #exited: Promise<void>;
  stderr = '';
  readonly #killGroup = () => {
    try {
      process.kill(-this.#child.pid!, 'SIGKILL');
    } catch {
      // ESRCH: the group is gone already
    }
  };
  readonly #onSignal = (signal: NodeJS.Signals) => {
    this.#killGroup();
    this.#unhook();
    process.kill(process.pid, signal); // what the signal would have done without us
  };

  constructor(command: string, timeoutMs: number = DEFAULT_ADAPTER_TIMEOUT_MS) {
    this.#command = command;
    this.#timeoutMs = timeoutMs;
    this.#child = spawn(command, { shell: true, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    this.#exited = new Promise((done) => this.#child.on('exit', () => done()));
    process.on('exit', this.#killGroup);
    for (const s of SIGNALS) process.on(s, this.#onSignal);
    // writing to an adapter that has exited: EPIPE; receive() reports the exit
    this.#child.stdin.on('error', () => {});
    this.#child.on('error', (e) => this.#end(`cannot start the adapter: ${e.message}`));
    this.#child.stderr.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      const w = this.#waiting.shift();
      if (w) w(line);
      else this.#queue.push(line);
    });
    // the adapter (the shell) exited: its last lines may still be in the pipe, which a process it
    // left behind may even hold open; end once the pipe closes, or a moment after the exit
    const exited = (code: number | null, signal: NodeJS.Signals | null) => {
      const why = signal !== null ? `killed by ${signal}` : `exited with code ${code}`;
      const err = this.stderr.trim().split('\n').slice(-3).join(' / ');
      this.#end(`the adapter ${why}${err ? `: ${err.slice(-500)}` : ' without an answer'}`);
    };
    this.#child.on('exit', (code, signal) => setTimeout(() => exited(code, signal), DRAIN_MS).unref());
    this.#child.on('close', exited);
  }

  #end(why: string): void {
    this.#ended ??= why;
    for (const w of this.#waiting.splice(0)) w(null);
  }

  #unhook(): void {
    process.removeListener('exit', this.#killGroup);
    for (const s of SIGNALS) process.removeListener(s, this.#onSignal);
  }

  send(message: unknown): void {
    if (this.#ended === null) this.#child.stdin.write(JSON.stringify(message) + '\n');
  }

  /** The next line as JSON; throws when the adapter ended, wrote something else, or did not answer in time. */
  async receive<T>(): Promise<T> {
    const line = this.#queue.shift() ?? (this.#ended !== null ? null : await this.#next());
    if (line === null) throw new Error(this.#ended ?? 'the adapter ended');
    try {
      return JSON.parse(line) as T;
    } catch {
      this.#end(`the adapter wrote a line that is not JSON: ${line.slice(0, 200)}`);
      throw new Error(this.#ended!);
    }
  }

  #next(): Promise<string | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
        const ms = this.#timeoutMs;
        this.#end(`the adapter did not answer within ${ms} ms ("${this.#command}"; --timeout MS to wait longer)`);
        resolve(null);
      }, this.#timeoutMs);
      const waiter = (line: string | null) => {
        clearTimeout(timer);
        resolve(line);
      };
      this.#waiting.push(waiter);
    });
  }

  async request<T>(message: unknown): Promise<T> {
    this.send(message);
    return this.receive<T>();
  }

  /** Ends the adapter: stdin closed, a moment to exit, then its whole process group killed. */
  async close(): Promise<void> {
    this.#end('closed');
    this.#child.stdin.end();
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([this.#exited, new Promise((r) => (grace = setTimeout(r, GRACE_MS)))]);
    clearTimeout(grace);
    this.#killGroup();
    this.#unhook();
    this.#child.stdout.destroy();
    this.#child.stderr.destroy();
  }
}

/** Reads JSON lines from stdin and answers each with `handle` (the adapter side). */
export async function serveLines(
  handle: (message: any, write: (m: unknown) => void, read: () => Promise<any>) => Promise<unknown>,
): Promise<void> {
  const rl = createInterface({ input: process.stdin });
  const lines: string[] = [];
  const waiting: ((l: string | null) => void)[] = [];
  let closed = false;
  rl.on('line', (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else lines.push(l);
  });
  rl.on('close', () => {
    closed = true;
    for (const w of waiting.splice(0)) w(null);
  });
  const line = async () => lines.shift() ?? (closed ? null : await new Promise<string | null>((r) => waiting.push(r)));
  // a line that is not a JSON object is answered with an error, and the conversation goes on
  const parse = (l: string): object | Error => {
    try {
      const m: unknown = JSON.parse(l);
      if (m !== null && typeof m === 'object' && !Array.isArray(m)) return m;
      return new Error(`expected a JSON object, got ${l.slice(0, 80)}`);
    } catch {
      return new Error(`not JSON: ${l.slice(0, 80)}`);
    }
  };
  const read = async () => {
    const l = await line();
    const m = l === null ? null : parse(l);
    return m instanceof Error ? null : m;
  };
  const write = (m: unknown) => process.stdout.write(JSON.stringify(m) + '\n');
  for (;;) {
    const l = await line();
    if (l === null) return;
    const m = parse(l);
    try {
      if (m instanceof Error) throw m;
      write(await handle(m, write, read));
    } catch (e) {
      write({ ok: false, error: (e as Error).message });
    }
  }
}
