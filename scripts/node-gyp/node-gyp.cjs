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
// node-gyp downloads them as usual. Then run npm's own node-gyp.
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

/** npm's own node-gyp: npm names it in npm_config_node_gyp for every script it runs. */
function npmNodeGyp() {
  const self = realpathSync(__filename);
  const candidates = [process.env.npm_config_node_gyp];
  if (process.env.npm_execpath) candidates.push(path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const found = candidates.find((c) => c && existsSync(c) && realpathSync(c) !== self);
  if (!found) throw new Error('[bkv] node-gyp shim: cannot find npm\'s node-gyp (npm_config_node_gyp and npm_execpath are unset)');
  return found;
}

if (!process.env.npm_config_nodedir) {
  const nodedir = localHeaders();
  if (nodedir) {
    process.env.npm_config_nodedir = nodedir;
    console.error(`[bkv] node-gyp: building against the local Node headers in ${path.join(nodedir, 'include', 'node')}`);
  }
}
process.argv[1] = npmNodeGyp();
require(process.argv[1]);
