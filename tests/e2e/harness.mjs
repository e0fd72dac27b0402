// Shared end-to-end harness: a static server for dist/ on 127.0.0.1 (a secure context, as
// WebGPU needs) and Debian's headless Chromium driven by playwright-core, never a downloaded browser.
import { createServer } from 'node:http';
import { readFile, mkdtemp, mkdir, rm, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname, basename } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const artifacts = join(repoRoot, 'tests', 'e2e', 'artifacts');

// The CLI the tests run ($CHIPSCOPE_CLI, with this process's environment) finds the shipped
// encoder weights through CHIPSCOPE_WEIGHTS, which scripts/env.sh sets; without it, the
// repository's weights/.
process.env.CHIPSCOPE_WEIGHTS ??= join(repoRoot, 'weights');

export { serveStatic } from '../../scripts/static-server.mjs';

/**
 * Launches headless Chromium; `webgpu` adds the flag that exposes SwiftShader's WebGPU adapter;
 * `isolation: false` blocks service workers, so the page cannot make itself cross-origin
 * isolated (as in a browser or host that forbids them) and runs on one thread.
 */
export async function launchBrowser({ webgpu, isolation = true }) {
  const args = [
    '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
  ];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  // A real GPU instead of SwiftShader (scripts/bench-gpu.sh sets the flags that select it).
  if (webgpu && process.env.CHIPSCOPE_CHROMIUM_GPU_FLAGS) {
    args.push(...process.env.CHIPSCOPE_CHROMIUM_GPU_FLAGS.split(' ').filter(Boolean));
  }
  const profile = await mkdtemp(join(tmpdir(), 'chipscope-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true, args, viewport: { width: 1400, height: 900 },
    serviceWorkers: isolation ? 'allow' : 'block',
  });
  // Each profile holds about 20–120 MB (caches, the service worker's storage): closing the
  // browser deletes it, or every run of the tests would leave about 1.5 GB in the temp folder.
  const close = context.close.bind(context);
  context.close = async (...args) => {
    await close(...args);
    await rm(profile, { recursive: true, force: true });
  };
  return context;
}

/**
 * Opens `url` in a new page, once the app has started loading, and records console errors and
 * uncaught exceptions.
 */
export async function openPage(context, url) {
  const page = await context.newPage();
  const errors = [];
  page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(url);
  // On a first visit the page reloads itself once to become cross-origin isolated
  // (public/loader.js): wait for the document that runs the app.
  await page.waitForFunction(() => 'chipscopeBuild' in window || 'wasmBindings' in window, null, { timeout: 60_000 });
  return { page, errors };
}

/**
 * Opens `url` in a fresh browser (`webgpu`: with SwiftShader's adapter), runs `body`, and fails
 * on any console error or uncaught exception of the page.
 */
export async function withPage({ webgpu, isolation, url }, body) {
  const context = await launchBrowser({ webgpu, isolation });
  try {
    const { page, errors } = await openPage(context, url);
    try {
      await body({ page, context });
    } catch (error) {
      await explainFailure(page, errors, error);
      throw error;
    }
    assert.deepEqual(errors, [], 'console errors or uncaught exceptions');
  } finally {
    await context.close();
  }
}

// What the page says about its work: the lines a failed test prints (CI keeps only its output).
const STATUS_IDS = [
  'error', 'embed-status', 'embed-progress', 'embed-error', 'classify-status', 'spectra-status',
  'atoms-status', 'download-progress', 'task-progress', 'merge-error', 'project-status',
  'project-error', 'project-waiting', 'project-failures', 'live-status', 'live-error',
];

/**
 * Adds to a failed test's `error` what the page showed when it failed — its status lines, a
 * crash dialog, the console errors so far — and saves a screenshot of it into the artifacts.
 */
async function explainFailure(page, errors, error) {
  const lines = [];
  try {
    for (const id of [...STATUS_IDS.map(testid), '#crash']) {
      for (const text of await page.locator(id).allInnerTexts()) lines.push(`${id}: ${text.trim()}`);
    }
    const name = `failure-${new Date().toISOString().replace(/[:.]/g, '-')}.png`;
    await screenshot(page, name);
    lines.push(`screenshot: tests/e2e/artifacts/${name}`);
  } catch (reason) {
    lines.push(`(the page could not be read: ${reason})`);
  }
  lines.push(...errors.map((text) => `console: ${text}`));
  if (error instanceof Error) error.message += `\nthe page when it failed:\n  ${lines.join('\n  ')}`;
}

export async function screenshot(page, name) {
  await mkdir(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, name), fullPage: true });
}

/**
 * Serves `files` (URL path → absolute file path) on another loopback port, so it is another
 * origin than the app; `cors` adds the header that lets other sites read them.
 */
export async function serveFiles(files, { cors }) {
  const server = createServer(async (request, response) => {
    const headers = cors ? { 'access-control-allow-origin': '*' } : {};
    const file = files[new URL(request.url, 'http://x').pathname];
    try {
      const body = await readFile(file);
      response.writeHead(200, { ...headers, 'content-type': 'application/octet-stream', 'content-length': body.length });
      response.end(body);
    } catch {
      response.writeHead(404, headers).end('not found');
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => server.close(resolve)) };
}

/** The longest gap between 10 ms timer ticks over `ms` milliseconds: how long the page froze. */
export function longestGap(page, ms) {
  return page.evaluate((ms) => new Promise((resolve) => {
    let last = performance.now(); let worst = 0; const end = last + ms;
    const tick = () => {
      const now = performance.now(); worst = Math.max(worst, now - last); last = now;
      if (now < end) setTimeout(tick, 10); else resolve(worst);
    };
    setTimeout(tick, 10);
  }), ms);
}

export const testid = (id) => `[data-testid="${id}"]`;

/** Clicks the centre of grid cell [row, col] of a `grid` × `grid` chip grid on the image. */
export async function clickChip(page, [row, col], grid) {
  await clickImageAt(page, (col + 0.5) / grid, (row + 0.5) / grid);
}

/** Clicks the image at fractions (`fx`, `fy`) of its width and height, scrolled into view. */
export async function clickImageAt(page, fx, fy) {
  const overlay = page.locator(testid('grid-overlay'));
  const box = await overlay.boundingBox();
  await overlay.click({ position: { x: fx * box.width, y: fy * box.height } });
}

/** Class name → chip count, as the results table shows it. */
export async function shares(page) {
  const rows = page.locator(testid('share-row'));
  const result = {};
  for (let i = 0; i < (await rows.count()); i++) {
    result[await rows.nth(i).getAttribute('data-class')] = Number(await rows.nth(i).getAttribute('data-chips'));
  }
  return result;
}

/** Waits until the counts differ from `previous` (and are not empty). */
export async function waitForShares(page, previous) {
  const deadline = Date.now() + 240_000;
  while (Date.now() < deadline) {
    const current = await shares(page);
    if (Object.keys(current).length && JSON.stringify(current) !== JSON.stringify(previous)) return current;
    await page.waitForTimeout(100);
  }
  assert.fail(`the counts never changed from ${JSON.stringify(previous)}`);
}

/** Empties `dir` (the artifacts of one test file), creating it if missing. */
export async function freshDir(dir) {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
}

/** Clicks the `id` button and saves the file it downloads into `dir`; resolves to its path. */
export async function downloadTo(dir, page, id) {
  const [file] = await Promise.all([page.waitForEvent('download'), page.locator(testid(id)).click()]);
  const path = join(dir, file.suggestedFilename());
  await file.saveAs(path);
  return path;
}

/** Class per chip from a per-chip CSV, keyed by "row,col". */
export function classesOf(csv) {
  const [, ...lines] = csv.trim().split('\n');
  return Object.fromEntries(lines.map((line) => {
    const [row, col, , , name] = line.split(',');
    return [`${row},${col}`, name];
  }));
}

/** Runs `cli segment IMAGE --session SESSION --out OUT` and returns its CSV's class per chip. */
export async function segmentInCli(cli, image, session, out) {
  execFileSync(cli, ['segment', image, '--session', session, '--out', out], { stdio: 'pipe' });
  const stem = basename(image).replace(/\.[^.]*$/, '');
  return classesOf(await readFile(join(out, `${stem}.csv`), 'utf8'));
}

/** The chips ("row,col") whose classes differ between two results of `classesOf`. */
export function differingChips(a, b) {
  return Object.keys(a).filter((chip) => a[chip] !== b[chip]);
}

/** Whether a file exists (test data may not have been fetched). */
export async function exists(path) {
  return access(path).then(() => true, () => false);
}

/** Sets the chip size through the number field. */
export async function setChipSize(page, size) {
  await page.locator(testid('chip-number')).fill(String(size));
  await page.locator(testid('chip-number')).dispatchEvent('change');
}

/** Picks encoder `id` in the Embeddings panel once it is offered. */
export async function selectEncoder(page, id) {
  await page.locator(`${testid('encoder-select')} option[value="${id}"]`).waitFor({ state: 'attached' });
  await page.locator(testid('encoder-select')).selectOption(id);
}

/**
 * Picks the embedding mode in the Embeddings panel: 'dense' (the page's default) or 'per_chip'
 * (pyCHIP: every chip resized to 224², which the per-chip figures and fixtures were made with).
 */
export async function selectMode(page, mode) {
  await page.locator(testid('embed-mode')).selectOption(mode);
}

/** A float32 .npy file's bytes as { shape, values }. */
export function parseNpy(bytes) {
  const headerLength = bytes.readUInt16LE(8);
  const header = bytes.subarray(10, 10 + headerLength).toString('latin1');
  assert.match(header, /'descr': '<f4'/);
  const shape = header.match(/'shape': \(([^)]*)\)/)[1].split(',').filter((d) => d.trim()).map(Number);
  const data = bytes.subarray(10 + headerLength);
  const values = new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
  return { shape, values };
}

/**
 * Leaves any text or number field, as a user's click elsewhere does, so the number keys and
 * Ctrl+Z reach the page: a key pressed while a class name still has the focus would be typed
 * into the name (seen: "Fe-S1", with the next supports given to the wrong class).
 */
export async function leaveFields(page) {
  await page.locator(testid('class-row')).first().locator('.key').click();
}

/**
 * Names the classes after the keys of `supports` ({ class: [[row, col]…] }) and clicks their
 * supports — chips of `chip` px on an image of `[width, height]` px — each class's key first.
 */
export async function labelChips(page, supports, chip, [width, height]) {
  const names = Object.keys(supports);
  while ((await page.locator(testid('class-name')).count()) < names.length) {
    await page.locator(testid('add-class')).click();
  }
  for (const [i, name] of names.entries()) {
    await page.locator(testid('class-name')).nth(i).fill(name);
    await page.locator(testid('class-name')).nth(i).dispatchEvent('change');
  }
  await leaveFields(page);
  for (const [i, name] of names.entries()) {
    await page.keyboard.press(String(i + 1));
    for (const [row, col] of supports[name]) {
      await clickImageAt(page, ((col + 0.5) * chip) / width, ((row + 0.5) * chip) / height);
    }
  }
}

/** The chips of `expected` ({ class: [[row, col]…] }) that `classes` gets wrong. */
export function wrongChips(classes, expected) {
  return Object.entries(expected).flatMap(([name, cells]) => cells
    .filter(([row, col]) => classes[`${row},${col}`] !== name)
    .map(([row, col]) => `[${row}, ${col}] ${classes[`${row},${col}`]} (not ${name})`));
}
