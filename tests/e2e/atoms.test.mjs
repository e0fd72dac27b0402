// The atom modality as a microscopist uses it, in headless Chromium: find the atom columns of
// the example (the count agrees with `chipscope atoms` on the same image), see them drawn,
// classify the two lattices by their pair distribution functions alone (no embedding), plot a
// chip's g(r) beside the class prototypes, and save a session that `chipscope segment` and a
// fresh page reproduce chip for chip.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  repoRoot, artifacts, serveStatic, withPage, screenshot, testid, clickChip as clickCell, shares, waitForShares,
  downloadTo, freshDir, classesOf, segmentInCli, differingChips, leaveFields,
} from './harness.mjs';

const cli = process.env.CHIPSCOPE_CLI ?? join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), 'debug', 'chipscope');
const outDir = join(artifacts, 'atoms');
const GRID = 16; // the 512 px example in 32 px chips
const clickChip = (page, cell) => clickCell(page, cell, GRID);
const supports = { square: [[5, 2], [9, 4]], hexagonal: [[5, 11], [9, 13]] };
let server;

before(async () => {
  await freshDir(outDir);
  server = await serveStatic(join(repoRoot, 'dist'));
});
after(async () => server?.close());

const download = (page, id) => downloadTo(outDir, page, id);

/** The status line once the search is done: { count, spacing }. */
async function foundColumns(page) {
  const status = page.locator(testid('atoms-status'));
  const deadline = Date.now() + 60_000;
  while (!/ columns \(/.test(await status.innerText())) {
    assert.ok(Date.now() < deadline, `no columns found: ${await status.innerText()}`);
    await page.waitForTimeout(100);
  }
  const text = await status.innerText();
  const [, count, spacing] = text.match(/^(\d+) columns .* spacing ([\d.]+) px/);
  return { count: Number(count), spacing: Number(spacing) };
}

test('find atom columns, classify by g(r) alone, plot it, and reproduce it in the CLI and a fresh page', async () => {
  let sessionPath;
  let pageShares;
  await withPage({ webgpu: false, url: `${server.url}?example` }, async ({ page }) => {
    await page.locator(testid('dataset-shape')).waitFor();
    await page.locator(testid('chip-number')).fill('32');
    await page.locator(testid('chip-number')).dispatchEvent('change');

    await page.locator(testid('find-atoms')).click();
    const found = await foundColumns(page);
    assert.ok(await page.locator(`${testid('atoms-overlay')}:not(.hidden)`).count(), 'columns drawn');
    await page.locator(testid('show-atoms')).uncheck();
    assert.equal(await page.locator(`${testid('atoms-overlay')}:not(.hidden)`).count(), 0, 'columns hidden');
    await page.locator(testid('show-atoms')).check();

    // The same core search natively, on the same simulated image, reads the same spacing off
    // the power spectrum and finds the same columns (to 0.5 %: float rounding of wasm and x86).
    const tiff = join(outDir, 'example.tif');
    execFileSync(cli, ['simulate', '--size', '512', '--seed', '1', '--out', tiff], { stdio: 'pipe' });
    const printed = execFileSync(cli, ['atoms', tiff, '--out', join(outDir, 'atoms.csv')], { encoding: 'utf8' });
    const [, cliCount, cliSpacing] = printed.match(/^(\d+) columns .* spacing ([\d.]+) px/);
    assert.ok(Math.abs(Number(cliCount) - found.count) <= found.count * 0.005, `${cliCount} vs ${found.count}`);
    assert.ok(Math.abs(Number(cliSpacing) - found.spacing) < 0.01, `${cliSpacing} vs ${found.spacing}`);
    assert.ok(found.count > 1500, `${found.count} columns`);

    // Atoms only: no embedding is needed, the two lattices are told apart by their g(r).
    await page.locator(testid('weight-image')).fill('0');
    await page.locator(testid('weight-atoms')).fill('1');
    const names = Object.keys(supports);
    for (const [i, name] of names.entries()) {
      await page.locator(testid('class-name')).nth(i).fill(name);
      await page.locator(testid('class-name')).nth(i).dispatchEvent('change');
    }
    await leaveFields(page);
    for (const [i, name] of names.entries()) {
      await page.keyboard.press(String(i + 1));
      for (const cell of supports[name]) await clickChip(page, cell);
    }
    pageShares = await waitForShares(page, {});
    assert.equal(Object.values(pageShares).reduce((a, b) => a + b, 0), GRID * GRID);
    assert.ok(pageShares.square > 40 && pageShares.hexagonal > 40, JSON.stringify(pageShares));
    assert.ok(pageShares.unassigned >= 16, `vacuum chips have no columns: ${JSON.stringify(pageShares)}`);
    assert.equal(await page.locator(testid('embedded')).count(), 0, 'nothing was embedded');

    // The g(r) of the chip under the pointer beside both prototypes.
    const box = await page.locator(testid('grid-overlay')).boundingBox();
    await page.mouse.move(box.x + (7.5 / GRID) * box.width, box.y + (7.5 / GRID) * box.height);
    await page.locator(`${testid('pdf-curve')}[data-name="chip [7, 7]"]`).waitFor();
    assert.deepEqual(
      await page.locator(testid('pdf-curve')).evaluateAll((curves) => curves.map((c) => c.dataset.name)),
      ['square', 'hexagonal', 'chip [7, 7]'],
    );
    await screenshot(page, 'atoms.png');

    const csvPath = await download(page, 'export-csv');
    sessionPath = await download(page, 'export-session');
    const session = JSON.parse(await readFile(sessionPath, 'utf8'));
    assert.equal(session.version, 7);
    assert.ok(Math.abs(session.atoms.spacing_px - found.spacing) < 0.01);
    assert.equal(session.atoms.threshold, 0.2);
    assert.deepEqual(session.fusion.weights, { image: 0, atoms: 1 });

    const fromPage = classesOf(await readFile(csvPath, 'utf8'));
    assert.equal(fromPage['7,1'], 'square');
    assert.equal(fromPage['7,14'], 'hexagonal');
    const fromCli = await segmentInCli(cli, tiff, sessionPath, join(outDir, 'cli'));
    const differing = differingChips(fromPage, fromCli);
    assert.ok(differing.length <= 2, `page and CLI differ on ${differing}`);

    // The report per class gives each lattice its mean column spacing: the square lattice's
    // nearest columns are its A and B columns, 0.39 / √2 = 0.276 nm apart; the hexagonal
    // lattice's 0.30 nm (measured: 0.2716 and 0.2998 nm).
    const header = await page.locator(`${testid('class-report')} th`).allInnerTexts();
    assert.deepEqual(header.slice(-2), ['column spacing (px)', 'column spacing (nm)']);
    const report = await readFile(await download(page, 'export-report'), 'utf8');
    const spacing = (name) => Number(report.split("\n").find((l) => l.startsWith(`${name},`)).split(',').at(-1));
    assert.ok(Math.abs(spacing('square') - 0.39 / Math.SQRT2) < 0.015, report);
    assert.ok(Math.abs(spacing('hexagonal') - 0.30) < 0.015, report);
  });

  // A fresh page opening the session simulates the example again, finds its columns with the
  // recorded settings and gives the same counts, still without embedding.
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await page.setInputFiles(testid('session-input'), sessionPath);
    await foundColumns(page);
    assert.deepEqual(await waitForShares(page, {}), pageShares);
    assert.equal(await page.locator(testid('weight-image')).inputValue(), '0');
    assert.equal(await page.locator(testid('embedded')).count(), 0);
    assert.deepEqual(await shares(page), pageShares);
  });
});
