// A frame series in the page: a 12-frame growth movie from `chipscope simulate --frames` (the
// square lattice growing into the hexagonal one, 0.5 s apart) opens at its first frame with a
// Frames panel; labelled there, Segment all frames applies the labels to every frame, one at a
// time; the slider previews a frame with its classes over it; the fractions follow the
// simulation's truth and are, frame by frame, those `chipscope segment` writes for the session
// saved from the page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  repoRoot, artifacts, serveStatic, withPage, screenshot, testid, waitForShares, downloadTo, freshDir,
  labelChips,
} from './harness.mjs';

const cli = process.env.CHIPSCOPE_CLI ?? join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), 'debug', 'chipscope');
const outDir = join(artifacts, 'frames');
const movie = join(outDir, 'movie.tif');
const truth = join(outDir, 'truth.csv');
const FRAMES = 12;
/** Supports on the first frame (256², 32-px chips: 8 × 8). */
const SUPPORTS = {
  vacuum: [[0, 0], [0, 5]],
  'square lattice': [[3, 0], [5, 0]],
  'hexagonal lattice': [[3, 7], [4, 6]],
  amorphous: [[7, 2], [7, 5]],
};
let server;

before(async () => {
  await freshDir(outDir);
  execFileSync(cli, ['simulate', '--frames', String(FRAMES), '--size', '256', '--out', movie, '--labels', truth], { stdio: 'pipe' });
  server = await serveStatic(join(repoRoot, 'dist'));
});
after(async () => server?.close());

/** Column `name` of a CSV with a header row, as numbers. */
function column(csv, name) {
  const [header, ...rows] = csv.trim().split('\n');
  const index = header.split(',').findIndex((h) => h.replaceAll('"', '') === name);
  assert.ok(index >= 0, `${name} in ${header}`);
  return rows.map((row) => Number(row.split(',')[index]));
}

test('a movie is labelled on its first frame, segmented frame by frame, previewed and exported as the CLI does', async () => {
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await page.setInputFiles(testid('file-input'), movie);
    await page.locator(testid('dataset-shape')).waitFor({ timeout: 60_000 });
    assert.equal(await page.locator(testid('frames-about')).innerText(), `${FRAMES} frames (TIFF), 0.5 s apart.`);
    // The chip size in nm (the movie is calibrated at 0.04 nm/px): 1.28 nm is 32 px.
    await page.locator(testid('chip-nm')).fill('1.28');
    await page.locator(testid('chip-nm')).dispatchEvent('change');
    assert.equal(await page.locator(testid('chip-number')).inputValue(), '32');
    await labelChips(page, SUPPORTS, 32, [256, 256]);
    await waitForShares(page, {});

    await page.locator(testid('segment-frames')).click();
    await page.locator(testid('frames-progress')).filter({ hasText: `${FRAMES} of ${FRAMES} frames` }).waitFor({ timeout: 240_000 });
    await page.locator(testid('segment-frames')).waitFor();
    assert.match(await page.locator(testid('fractions-chart')).innerHTML(), /over 12 frames/);

    // The slider's last frame, with its classes over it and its shares.
    await page.locator(testid('frame-slider')).fill(String(FRAMES));
    assert.equal(await page.locator(testid('frame-number')).innerText(), `frame ${FRAMES} of ${FRAMES}`);
    await page.locator(`${testid('frame-overlay')}:not(.hidden)`).waitFor();
    assert.match(await page.locator(testid('frame-shares')).innerText(), /square lattice \d+\.\d %/);
    await page.locator(testid('frames-panel')).scrollIntoViewIfNeeded();
    await screenshot(page, 'frames.png');

    // The fractions follow the truth: the square lattice grows from 15 % to 85 % of the width.
    const fractions = await readFile(await downloadTo(outDir, page, 'export-fractions-csv'), 'utf8');
    const known = await readFile(truth, 'utf8');
    for (const name of ['square lattice fraction', 'hexagonal lattice fraction']) {
      const [ours, real] = [column(fractions, name), column(known, name)];
      assert.equal(ours.length, FRAMES);
      const worst = Math.max(...ours.map((f, i) => Math.abs(f - real[i])));
      assert.ok(worst < 0.1, `${name}: ${ours} against ${real}`);
    }
    assert.deepEqual(column(fractions, 'time_s'), [...Array(FRAMES).keys()].map((i) => i * 0.5));

    // The session saved here, applied to the movie by the CLI, gives the same table.
    const session = await downloadTo(outDir, page, 'export-session');
    const out = join(outDir, 'cli');
    const printed = execFileSync(cli, ['segment', movie, '--session', session, '--out', out], { encoding: 'utf8' });
    assert.match(printed, /movie\.tif: 12 of 12 frames segmented/);
    assert.equal(await readFile(join(out, 'movie-fractions.csv'), 'utf8'), fractions);
  });
});
