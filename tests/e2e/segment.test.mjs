// The few-shot workflow as a microscopist does it, in headless Chromium on the CPU path: open a
// real DM3 file, set the grid, make three classes, click supports, watch the overlay and counts
// follow each click (and undo/redo), download every export and the session file — then check
// that `chipscope segment` with that session gives every chip the same class, and that the
// session opens again in a fresh page (with a warning on other data).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  repoRoot, artifacts, serveStatic, withPage, screenshot, testid, clickChip as clickCell, waitForShares,
  downloadTo, freshDir, selectMode, leaveFields,
} from './harness.mjs';

const cli = process.env.CHIPSCOPE_CLI ?? join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), 'debug', 'chipscope');
const testdata = process.env.CHIPSCOPE_TESTDATA ?? join(process.env.HOME, '.cache/chipscope/testdata');
const dm3 = join(testdata, 'hyperspy/dm3_2D_data/multi_signal.dm3');
const outDir = join(artifacts, 'segment');
const GRID = 8; // 512 px image, 64 px chips
const clickChip = (page, cell) => clickCell(page, cell, GRID);
let server;

before(async () => {
  await freshDir(outDir);
  server = await serveStatic(join(repoRoot, 'dist'));
});
after(async () => server?.close());

/** Opens the DM3 file with 64 px chips and the MobileNetV2 encoder, embedding per chip (pyCHIP). */
async function openDm3(page) {
  await page.locator(`${testid('backend')}:not([data-backend="pending"])`).waitFor({ timeout: 60_000 });
  await page.setInputFiles(testid('file-input'), dm3);
  await page.locator(testid('dataset-shape')).waitFor();
  await page.locator(testid('chip-number')).fill('64');
  await page.locator(testid('chip-number')).dispatchEvent('change');
  await page.locator(`${testid('encoder-select')} option[value="mobilenet_v2"]`).waitFor({ state: 'attached' });
  await page.locator(testid('encoder-select')).selectOption('mobilenet_v2');
  await selectMode(page, 'per_chip');
}

const download = (page, id) => downloadTo(outDir, page, id);

/** The class column of a per-chip CSV, keyed by "row,col". */
function classesOf(csv) {
  const [header, ...lines] = csv.trim().split('\n');
  assert.match(header, /^row,col,x,y,class,confidence,distance_vacuum,distance_film,distance_substrate$/);
  return Object.fromEntries(lines.map((line) => {
    const [row, col, , , name] = line.split(',');
    return [`${row},${col}`, name];
  }));
}

const supports = {
  vacuum: [[0, 0], [0, 1]],
  film: [[4, 4], [6, 2]],
  substrate: [[7, 7], [2, 6]],
};

test('label a real DM3 file, export everything, and reproduce the CSV with chipscope segment', async () => {
  let sessionPath;
  let pageShares;
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await openDm3(page);
    await page.locator(testid('add-class')).click();
    const names = Object.keys(supports);
    for (const [i, name] of names.entries()) {
      await page.locator(testid('class-name')).nth(i).fill(name);
      await page.locator(testid('class-name')).nth(i).dispatchEvent('change');
    }
    await leaveFields(page);
    for (const [i, name] of names.entries()) {
      await page.keyboard.press(String(i + 1)); // number keys pick the class
      for (const cell of supports[name]) await clickChip(page, cell);
    }
    assert.equal(await page.locator(testid('support-mark')).count(), 6);
    const counts = await page.locator(testid('support-count')).allInnerTexts();
    assert.deepEqual(counts, ['2', '2', '2']);
    await page.locator(testid('embedded')).waitFor({ timeout: 240_000 });
    const first = await waitForShares(page, {});
    assert.equal(Object.values(first).reduce((a, b) => a + b, 0), GRID * GRID);
    assert.ok(await page.locator(`${testid('segmentation-overlay')}:not(.hidden)`).count());
    assert.match(await page.locator(testid('classify-status')).innerText(), /64 chips classified in [\d.]+ ms/);

    // Each click reclassifies without embedding again; undo and redo walk back and forth.
    await page.keyboard.press('1');
    await clickChip(page, [3, 3]);
    await clickChip(page, [5, 6]);
    const moved = await waitForShares(page, first);
    await page.keyboard.press('Control+z');
    await page.keyboard.press('Control+z');
    assert.deepEqual(await waitForShares(page, moved), first);
    await page.keyboard.press('Control+Shift+z');
    await page.keyboard.press('Control+y');
    pageShares = await waitForShares(page, first);
    assert.deepEqual(pageShares, moved);
    assert.equal(await page.locator(testid('support-mark')).count(), 8);

    // Far chips can stay unassigned: at distance 0 no chip is close enough to any prototype.
    await page.locator(testid('unassigned-toggle')).check();
    await page.locator(testid('unassigned-distance')).fill('0');
    assert.deepEqual(await waitForShares(page, pageShares), { vacuum: 0, film: 0, substrate: 0, unassigned: 64 });
    await page.locator(testid('unassigned-toggle')).uncheck();
    assert.deepEqual(await waitForShares(page, { vacuum: 0, film: 0, substrate: 0, unassigned: 64 }), pageShares);

    await page.locator(testid('view-mode')).selectOption('confidence');
    await screenshot(page, 'segment-confidence.png');
    await page.locator(testid('view-mode')).selectOption('classes');
    await screenshot(page, 'segment-classes.png');

    const csvPath = await download(page, 'export-csv');
    const overlay = await readFile(await download(page, 'export-overlay'));
    const labels = await readFile(await download(page, 'export-labels'));
    const chartSvg = await readFile(await download(page, 'export-chart-svg'), 'utf8');
    const chartPng = await readFile(await download(page, 'export-chart-png'));
    const summary = JSON.parse(await readFile(await download(page, 'export-summary'), 'utf8'));
    sessionPath = await download(page, 'export-session');
    const png = (bytes) => bytes.subarray(1, 4).toString() === 'PNG';
    assert.ok(png(overlay) && png(labels) && png(chartPng), 'PNG exports');
    assert.equal(labels.readUInt32BE(16), 512, 'label image width');
    assert.match(chartSvg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal(summary.total_chips, 64);
    assert.equal(summary.area_unit, 'nm²');
    const session = JSON.parse(await readFile(sessionPath, 'utf8'));
    assert.equal(session.format, 'chipscope-session');
    assert.equal(session.grid.chip_size, 64);
    assert.equal(session.encoder.id, 'mobilenet_v2');
    assert.deepEqual(session.encoder.mode, { kind: 'per_chip' });
    assert.deepEqual(session.classes.map((c) => c.supports.length), [4, 2, 2]);

    const cliOut = join(outDir, 'cli');
    execFileSync(cli, ['segment', dm3, '--session', sessionPath, '--out', cliOut], { stdio: 'pipe' });
    const fromPage = classesOf(await readFile(csvPath, 'utf8'));
    const fromCli = classesOf(await readFile(join(cliOut, 'multi_signal.csv'), 'utf8'));
    assert.equal(Object.keys(fromPage).length, 64);
    assert.deepEqual(fromCli, fromPage, 'every chip gets the same class in the page and the CLI');
  });

  // The session opens in a fresh page: on other data only when asked to (with a warning), and
  // exactly once its own DM3 file is opened (recognised by sha256).
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await page.locator(`${testid('backend')}:not([data-backend="pending"])`).waitFor({ timeout: 60_000 });
    await page.locator(testid('load-example')).click();
    await page.locator(testid('dataset-shape')).waitFor();
    await page.setInputFiles(testid('session-input'), sessionPath);
    assert.match(await page.locator(testid('other-data')).innerText(), /made on multi_signal\.dm3 .*but the open example/);
    await page.locator(testid('apply-anyway')).click();
    const notice = page.locator(testid('labels-notice'));
    await notice.filter({ hasText: 'Session opened' }).waitFor();
    assert.match(await notice.innerText(), /Session opened: 3 classes, 8 supports/);
    assert.match(await notice.innerText(), /Warning: it was made on multi_signal\.dm3/);

    await page.setInputFiles(testid('session-input'), sessionPath);
    await page.locator(testid('other-data')).waitFor();
    await page.setInputFiles(testid('file-input'), dm3);
    await page.locator(testid('other-data')).waitFor({ state: 'detached' });
    await notice.filter({ hasText: 'Session opened' }).waitFor();
    assert.doesNotMatch(await notice.innerText(), /Warning/);
    assert.deepEqual(await waitForShares(page, {}), pageShares);
  });
});

test('a damaged session file gets a message and the labels stay', async () => {
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await page.locator(testid('load-example')).click();
    await page.locator(testid('dataset-shape')).waitFor();
    await clickChip(page, [1, 1]);
    await page.setInputFiles(testid('session-input'), {
      name: 'broken.json', mimeType: 'application/json', buffer: Buffer.from('{"format": "chipscope-session", "version": 1, "grid": '),
    });
    await page.locator(testid('error')).waitFor();
    assert.match(await page.locator(testid('error')).innerText(), /broken\.json: the session file is damaged or not JSON/);
    assert.equal(await page.locator(testid('support-mark')).count(), 1);
  });
});
