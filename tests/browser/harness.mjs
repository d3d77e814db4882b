// What every browser test shares: the checkout's root, playwright-core (from web/'s npm
// install), Debian's Chromium started the way this machine needs (no sandbox as root, no
// background networking: its connections would be refused), a timed log and checks, and
// the strangers' test page with a static server for it.

import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(root, 'web/package.json'));
const { chromium } = require('playwright-core');

const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

const BASE_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A persistent context on a fresh profile directory, with `extraArgs` and `viewport`. */
export function launch(profile, extraArgs, viewport) {
  return chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: [...BASE_ARGS, ...extraArgs],
    viewport,
    deviceScaleFactor: 1,
  });
}

const started = Date.now();
/** console.log with seconds since the test began, each argument on one line. */
export const log = (...a) =>
  console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s]`, ...a.map((x) => String(x).replace(/\s*\n\s*/g, ' · ')));

export class TestFailure extends Error {}

/** Ends a script that gathers its failures rather than stopping at the first: lists them
 * and exits 1, or logs `passed` (the sentence saying what held). */
export function finish(failures, passed) {
  if (failures.length) {
    console.log(`\n${failures.length} failure(s):\n${failures.map((f) => `  - ${f}`).join('\n')}`);
    process.exit(1);
  }
  log(passed);
}
export function check(cond, message) {
  if (!cond) throw new TestFailure(message);
}

const modules = path.join(root, 'web/node_modules');
/** The strangers' test page (players.html + players-page.js) and the players it loads
 * (reel's pinned hls.js; video.js and Shaka Player from web/'s devDependencies), by the
 * URL path the page asks for: `[file, content type]`. */
export const PLAYER_PAGE_FILES = {
  '/players.html': [path.join(root, 'tests/browser/players.html'), 'text/html'],
  '/players-page.js': [path.join(root, 'tests/browser/players-page.js'), 'text/javascript'],
  '/vendor/hls.min.js': [path.join(root, 'web/vendor/hls.js/hls.min.js'), 'text/javascript'],
  '/vendor/video.min.js': [path.join(modules, 'video.js/dist/video.min.js'), 'text/javascript'],
  '/vendor/video-js.min.css': [path.join(modules, 'video.js/dist/video-js.min.css'), 'text/css'],
  '/vendor/shaka-player.compiled.js': [path.join(modules, 'shaka-player/dist/shaka-player.compiled.js'), 'text/javascript'],
};

/** Serves `files` (as PLAYER_PAGE_FILES) on a free loopback port, uncached: a page on an
 * origin of its own. Resolves to `{ origin, close() }`. */
export async function serveFiles(files) {
  const server = http.createServer((req, res) => {
    const file = files[new URL(req.url, 'http://x').pathname];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': file[1], 'Cache-Control': 'no-store' });
    fs.createReadStream(file[0]).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}
