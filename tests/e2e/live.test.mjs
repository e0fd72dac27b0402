// A watched folder: labelled on a.tif, the page watches a folder (the File System Access API's
// directory picker, answered here with a folder of the origin-private file system, which has the
// same handle type; headless Chromium cannot show the picker itself). Files written into it
// after the watch starts — one at the labelled pixel size, one at twice the magnification — are
// added to the project, resampled, classified with its supports and tabled against the time they
// were written; their class fractions are those `chipscope segment` gives for the session saved
// from the page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  repoRoot, artifacts, serveStatic, withPage, screenshot, testid, waitForShares, downloadTo, freshDir,
  labelChips, setChipSize,
} from './harness.mjs';

const cli = process.env.CHIPSCOPE_CLI ?? join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), 'debug', 'chipscope');
const outDir = join(artifacts, 'live');
const labelled = join(outDir, 'a.tif');
/** Written into the watched folder, in this order. */
const ARRIVING = [
  { name: 'c.tif', args: ['--size', '256', '--seed', '3'] },
  { name: 'd.tif', args: ['--size', '512', '--seed', '4', '--pixel-nm', '0.02'] },
];
const SUPPORTS = {
  vacuum: [[0, 1], [0, 6]],
  'square lattice': [[2, 0], [4, 1]],
  'hexagonal lattice': [[2, 5], [4, 6]],
  amorphous: [[7, 1], [7, 5]],
};
let server;

before(async () => {
  await freshDir(outDir);
  execFileSync(cli, ['simulate', '--size', '256', '--seed', '1', '--out', labelled], { stdio: 'pipe' });
  for (const { name, args } of ARRIVING) {
    execFileSync(cli, ['simulate', ...args, '--out', join(outDir, name)], { stdio: 'pipe' });
  }
  server = await serveStatic(join(repoRoot, 'dist'));
});
after(async () => server?.close());

/** Writes `path`'s bytes as `name` into the page's watched folder (`live` in its private file system). */
async function writeIntoFolder(page, path, name) {
  const base64 = (await readFile(path)).toString('base64');
  await page.evaluate(async ({ name, base64 }) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const root = await navigator.storage.getDirectory();
    const folder = await root.getDirectoryHandle('live', { create: true });
    const writable = await (await folder.getFileHandle(name, { create: true })).createWritable();
    await writable.write(bytes);
    await writable.close();
  }, { name, base64 });
}

/** The fraction columns of a CSV line, by column name. */
function fractions(header, line) {
  const names = header.split(',');
  const cells = line.split(',');
  return Object.fromEntries(names.map((name, i) => [name, cells[i]]).filter(([name]) => name.endsWith(' fraction')));
}

test('files written into a watched folder are classified as they arrive, as the CLI classifies them', async () => {
  let csv;
  let session;
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    // The picker answers with the private file system's `live` folder.
    await page.evaluate(() => {
      window.showDirectoryPicker = async () => (await navigator.storage.getDirectory())
        .getDirectoryHandle('live', { create: true });
    });
    await page.setInputFiles(testid('file-input'), labelled);
    await page.locator(testid('dataset-shape')).waitFor({ timeout: 60_000 });
    await setChipSize(page, 32);
    await labelChips(page, SUPPORTS, 32, [256, 256]);
    await waitForShares(page, {});

    await page.locator(testid('watch-folder')).click();
    await page.locator(testid('live-status')).filter({ hasText: 'Watching live: 0 files taken.' }).waitFor();
    for (const [i, { name }] of ARRIVING.entries()) {
      await writeIntoFolder(page, join(outDir, name), name);
      await page.locator(testid('live-status')).filter({ hasText: `${i + 1} files taken` }).waitFor({ timeout: 120_000 });
    }
    await page.locator(`${testid('project-image')}[data-name="d.tif"]`).waitFor({ timeout: 120_000 });
    await page.locator(testid('live-chart')).waitFor();
    assert.match(await page.locator(testid('live-chart')).innerHTML(), /over 2 frames/);
    await page.locator(testid('live-panel')).scrollIntoViewIfNeeded();
    await screenshot(page, 'live.png');
    csv = await readFile(await downloadTo(outDir, page, 'export-live-csv'), 'utf8');
    await page.locator(testid('stop-watching')).click();
    await page.locator(testid('live-status')).filter({ hasText: 'Stopped: 2 files taken.' }).waitFor();
    session = await downloadTo(outDir, page, 'export-session');
  });

  const [header, ...rows] = csv.trim().split('\n');
  assert.match(header, /^frame,time_s,file,vacuum fraction,/);
  assert.deepEqual(rows.map((row) => row.split(',')[2]), ['c.tif', 'd.tif']);
  assert.ok(Number(rows[1].split(',')[1]) >= 0, 'times count from the first file');
  // The CLI, given the session saved from the page, gives each file the same fractions.
  const out = join(outDir, 'cli');
  execFileSync(cli, ['segment', ...ARRIVING.map(({ name }) => join(outDir, name)), '--session', session, '--out', out], { stdio: 'pipe' });
  for (const [i, { name }] of ARRIVING.entries()) {
    const report = (await readFile(join(out, `${name.replace('.tif', '')}-report.csv`), 'utf8')).trim().split('\n');
    const theirs = Object.fromEntries(report.slice(1).map((line) => {
      const [klass, , fraction] = line.split(',');
      return [`${klass} fraction`, fraction];
    }));
    const ours = fractions(header, rows[i]);
    for (const [column, value] of Object.entries(ours)) {
      assert.equal(value, theirs[column] ?? '0.000000', `${name}: ${column}`);
    }
  }
});
