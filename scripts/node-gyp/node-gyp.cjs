#!/usr/bin/env node
// bkv's node-gyp shim. npm builds a native addon (pkcs11js, under graphene-pk11) by running
// `node-gyp rebuild` in the addon's directory, with the project's node_modules/.bin ahead of
// npm's own node-gyp on the PATH. This package (a file: dependency, installed as a copy:
// `install-links` in .npmrc, so its bin is linked before any addon builds) puts this script there.
//
// node-gyp needs Node's C headers and, unless told where they are (`nodedir`), downloads them
// from nodejs.org: on a machine that reaches only the npm registry, that fails and so does
// `npm ci`. So: when no nodedir is configured and the running Node's prefix holds the headers of
// exactly this version (`<prefix>/include/node`: NodeSource and distribution packages, the
// official tarballs, nvm, Homebrew), point node-gyp at them. Otherwise nothing changes and
// node-gyp downloads them as usual. Then run the real node-gyp (npm's own, normally).
'use strict';
const { existsSync, readFileSync, realpathSync } = require('node:fs');
const path = require('node:path');

function localHeaders() {
  const prefix = path.dirname(path.dirname(process.execPath));
  const versionH = path.join(prefix, 'include', 'node', 'node_version.h');
  if (!existsSync(versionH)) return null;
  const text = readFileSync(versionH, 'utf8');
  const part = (name) => text.match(new RegExp(`#define NODE_${name}_VERSION (\\d+)`))?.[1];
  return `${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}` === process.versions.node ? prefix : null;
}

/**
 * The real node-gyp: npm's own (npm names it in npm_config_node_gyp for every script it runs; or
 * it sits beside npm, or in the npm installed with this Node), else an installed `node-gyp` package, else the next `node-gyp` on the PATH
 * that is not this shim.
 */
function realNodeGyp() {
  const self = realpathSync(__filename);
  const candidates = [process.env.npm_config_node_gyp];
  if (process.env.npm_execpath) candidates.push(path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const prefix = path.dirname(path.dirname(process.execPath));
  candidates.push(path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed as a package: try the PATH below
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (dir) candidates.push(path.join(dir, 'node-gyp'));
  const found = candidates.find((c) => c && existsSync(c) && realpathSync(c) !== self);
  if (!found) throw new Error("[bkv] node-gyp shim: no node-gyp found (not npm's, not installed, not on the PATH)");
  return found;
}

// A build for another runtime or version (Electron, `--target`) brings its own headers: leave it alone.
const otherTarget = ['npm_config_target', 'npm_config_runtime', 'npm_config_disturl'].some((k) => process.env[k]);
if (!process.env.npm_config_nodedir && !otherTarget) {
  const nodedir = localHeaders();
  if (nodedir) {
    process.env.npm_config_nodedir = nodedir;
    console.error(`[bkv] node-gyp: building against the local Node headers in ${path.join(nodedir, 'include', 'node')}`);
  }
}
const real = realNodeGyp();
if (real.endsWith('.js')) {
  process.argv[1] = real;
  require(real);
} else {
  // a node-gyp executable found on the PATH: run it with the same arguments and environment
  const r = require('node:child_process').spawnSync(real, process.argv.slice(2), { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
