// SPDX-License-Identifier: BSD-2-Clause
// Builds the package from its one source, with no dependencies:
//
//   src/sse-outbox.js   -> dist/sse-outbox.mjs   ES module (export default)
//                       -> dist/sse-outbox.cjs   CommonJS (module.exports)
//                       -> dist/sse-outbox.js    classic <script>: sets
//                                                window.SSEOutbox (also
//                                                CommonJS where `module`
//                                                exists)
//   src/sse-outbox.d.ts -> dist/sse-outbox.d.ts, .d.mts (export default)
//                       -> dist/sse-outbox.d.cts (export =)
//
// Each built file starts with a banner: name, version (package.json) and
// the license (LICENSE). The dist/ files are committed, so that `make
// install` and the demo need no Node; `node build.mjs --check` fails when
// they differ from what the source gives (the tests run it).
//
//   node build.mjs [--check] [--out DIR]

import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const check = args.includes('--check');
const outAt = args.indexOf('--out');
const out = outAt >= 0 ? args[outAt + 1] : join(here, 'dist');

const pkg = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8'));
const license = readFileSync(join(here, 'LICENSE'), 'utf8').trimEnd();
const source = readFileSync(join(here, 'src', 'sse-outbox.js'), 'utf8');
const types = readFileSync(join(here, 'src', 'sse-outbox.d.ts'), 'utf8');

const EXPORT = '\nexport default SSEOutbox;\n';
// Named type exports, which `export =` (CommonJS) cannot have beside it.
const ESM_ONLY = /\/\/ <esm-only>[^]*?\/\/ <\/esm-only>\n/;

function fail(msg) {
  process.stderr.write(`build.mjs: ${msg}\n`);
  process.exit(1);
}

function once(text, what, name) {
  const n = text.split(what).length - 1;
  if (n !== 1) fail(`${name}: expected ${JSON.stringify(what)} once, found ${n}`);
}

once(source, EXPORT, 'src/sse-outbox.js');
once(types, EXPORT, 'src/sse-outbox.d.ts');
if (!ESM_ONLY.test(types)) fail('src/sse-outbox.d.ts: no // <esm-only> block');
if (!source.endsWith(EXPORT)) fail('src/sse-outbox.js must end with' + EXPORT);

const banner = (kind) => '/*!\n' +
  ` * ${pkg.name} ${pkg.version} (${kind}): ${pkg.description}\n` +
  ' * Built by js/build.mjs from js/src/; edit the source, not this file.\n' +
  ' *\n' +
  license.split('\n').map((l) => (' * ' + l).trimEnd()).join('\n') +
  '\n */\n';

const body = source.slice(0, -EXPORT.length) + '\n';
const files = {
  'sse-outbox.mjs': banner('ES module') + source,
  'sse-outbox.cjs': banner('CommonJS') + body +
    'module.exports = SSEOutbox;\nmodule.exports.default = SSEOutbox;\n',
  'sse-outbox.js': banner('script') + '(function () {\n' + body +
    "if (typeof module === 'object' && module && module.exports) {\n" +
    '  module.exports = SSEOutbox;\n' +
    '} else {\n' +
    '  root.SSEOutbox = SSEOutbox;\n' +
    '}\n}());\n',
  'sse-outbox.d.ts': banner('types') + types,
  'sse-outbox.d.mts': banner('types, ES module') + types,
  'sse-outbox.d.cts': banner('types, CommonJS') +
    types.replace(ESM_ONLY, '').replace(EXPORT, '\nexport = SSEOutbox;\n'),
};

let stale = [];
if (!check) mkdirSync(out, { recursive: true });
for (const [name, text] of Object.entries(files)) {
  const path = join(out, name);
  if (check) {
    if (!existsSync(path) || readFileSync(path, 'utf8') !== text) stale.push(name);
  } else {
    writeFileSync(path, text);
  }
}
if (stale.length) {
  fail(`out of date in ${out}: ${stale.join(', ')}; run \`node js/build.mjs\``);
}
