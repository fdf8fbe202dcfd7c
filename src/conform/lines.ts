/**
 * JSON lines over a child process's stdio, one request and one response at a time.
 * @module
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export class LineChannel {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #queue: string[] = [];
  readonly #waiting: ((line: string | null) => void)[] = [];
  #closed = false;
  stderr = '';

  constructor(command: string) {
    this.#child = spawn(command, { shell: true, stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      const w = this.#waiting.shift();
      if (w) w(line);
      else this.#queue.push(line);
    });
    this.#child.on('close', () => {
      this.#closed = true;
      for (const w of this.#waiting.splice(0)) w(null);
    });
  }

  send(message: unknown): void {
    this.#child.stdin.write(JSON.stringify(message) + '\n');
  }

  /** The next line as JSON; throws when the process ended or wrote something else. */
  async receive<T>(): Promise<T> {
    const line = this.#queue.shift() ?? (this.#closed ? null : await new Promise<string | null>((r) => this.#waiting.push(r)));
    if (line === null) throw new Error(`adapter exited${this.stderr ? `: ${this.stderr.trim().slice(-500)}` : ''}`);
    try {
      return JSON.parse(line) as T;
    } catch {
      throw new Error(`adapter wrote a line that is not JSON: ${line.slice(0, 200)}`);
    }
  }

  async request<T>(message: unknown): Promise<T> {
    this.send(message);
    return this.receive<T>();
  }

  close(): void {
    this.#child.stdin.end();
    this.#child.kill();
  }
}

/** Reads JSON lines from stdin and answers each with `handle` (the adapter side). */
export async function serveLines(handle: (message: any, write: (m: unknown) => void, read: () => Promise<any>) => Promise<unknown>): Promise<void> {
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
  const read = async () => {
    const l = lines.shift() ?? (closed ? null : await new Promise<string | null>((r) => waiting.push(r)));
    return l === null ? null : JSON.parse(l);
  };
  const write = (m: unknown) => process.stdout.write(JSON.stringify(m) + '\n');
  for (;;) {
    const m = await read();
    if (m === null) return;
    try {
      write(await handle(m, write, read));
    } catch (e) {
      write({ ok: false, error: (e as Error).message });
    }
  }
}
