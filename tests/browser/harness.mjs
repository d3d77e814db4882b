// What every browser test shares: the checkout's root, playwright-core (from web/'s npm
// install), Debian's Chromium started the way this machine needs (no sandbox as root, no
// background networking: its connections would be refused), a timed log and checks.

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
export function check(cond, message) {
  if (!cond) throw new TestFailure(message);
}
