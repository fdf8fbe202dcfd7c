#!/usr/bin/env node
// The `bkv` command. In a checkout, the TypeScript sources run through tsx, so that `npx bkv
// <command>` works right after `npm ci` with no build step; the installed package has no
// sources and runs the JavaScript that tsc compiled at pack time (dist/, `npm run build`).
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
let cli;
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(sources.href);
} else {
  cli = await import(new URL('../dist/src/cli/main.js', import.meta.url).href);
}
await cli.runCli(process.argv.slice(2));
