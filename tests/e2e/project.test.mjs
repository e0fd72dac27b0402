// A project of two images in the page: the simulated example at two magnifications (a.tif, 256²
// at 0.04 nm/px; b.tif, the same 10.24 nm field at 0.02 nm/px, 512², another seed). b.tif is
// added to the project and resampled to a.tif's pixel size; supports are clicked on both (the
// hexagonal lattice only on b.tif), switching images with the thumbnails; every image is
// classified with the shared prototypes. The session saved from the page, applied by
// `chipscope segment` to both files, gives the same classes on every chip of each image and the
// same project report; a movie added to the project is segmented frame by frame with the same
// prototypes, into the fractions the CLI writes for it; opened again in a fresh page, the
// session asks for b.tif, and once it is added the report is the same once more.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  repoRoot, artifacts, serveStatic, withPage, screenshot, testid, waitForShares, downloadTo, freshDir,
  labelChips, setChipSize, clickImageAt, classesOf, differingChips, leaveFields,
} from './harness.mjs';

const cli = process.env.CHIPSCOPE_CLI ?? join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), 'debug', 'chipscope');
const outDir = join(artifacts, 'project');
const first = join(outDir, 'a.tif');
const second = join(outDir, 'b.tif');
const movie = join(outDir, 'movie.tif');
const FRAMES = 6;
const CHIP = 32;
/** Supports on a.tif (256², 8 × 8 chips of 32 px). */
const ON_FIRST = {
  vacuum: [[0, 1], [0, 6]],
  'square lattice': [[2, 0]],
  'hexagonal lattice': [],
  amorphous: [[7, 1]],
};
/** Supports on b.tif, resampled to 256²: class key → chips. */
const ON_SECOND = { 2: [[4, 1]], 3: [[2, 5], [4, 6]], 4: [[7, 5]] };
let server;

before(async () => {
  await freshDir(outDir);
  execFileSync(cli, ['simulate', '--size', '256', '--seed', '1', '--out', first], { stdio: 'pipe' });
  execFileSync(cli, ['simulate', '--size', '512', '--seed', '2', '--pixel-nm', '0.02', '--out', second], { stdio: 'pipe' });
  execFileSync(cli, ['simulate', '--frames', String(FRAMES), '--size', '256', '--out', movie], { stdio: 'pipe' });
  server = await serveStatic(join(repoRoot, 'dist'));
});
after(async () => server?.close());

/** Shows the project image named `name` by its thumbnail. */
async function showImage(page, name) {
  await page.locator(`${testid('project-image')}[data-name="${name}"]`).click();
  await page.locator(`${testid('project-image')}.current[data-name="${name}"]`).waitFor();
}

/** Segments every image of the project and downloads the project report. */
async function projectReport(page, dir) {
  await page.locator(testid('segment-project')).click();
  await page.locator(testid('project-pooled')).waitFor({ timeout: 240_000 });
  await page.locator(testid('segment-project')).waitFor({ timeout: 240_000 });
  return readFile(await downloadTo(dir, page, 'export-project-report'), 'utf8');
}

test('supports on two magnifications form one support set, and the CLI and a fresh page agree', async () => {
  let session;
  let report;
  let fractions;
  const pageClasses = {};
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await page.setInputFiles(testid('file-input'), first);
    await page.locator(testid('dataset-shape')).waitFor({ timeout: 60_000 });
    await setChipSize(page, CHIP);
    await page.setInputFiles(testid('project-add'), second);
    await page.locator(`${testid('project-image')}[data-name="b.tif"]`).waitFor({ timeout: 60_000 });
    assert.equal(await page.locator(testid('project-image')).count(), 2);
    await page.locator(testid('project-panel')).waitFor();

    await labelChips(page, ON_FIRST, CHIP, [256, 256]);
    await showImage(page, 'b.tif');
    // b.tif is shown at a.tif's pixel size: 512² at 0.02 nm/px became 256² at 0.04.
    assert.match(await page.locator(testid('dataset-shape')).innerText(), /256 × 256/);
    await leaveFields(page);
    for (const [key, cells] of Object.entries(ON_SECOND)) {
      await page.keyboard.press(key);
      for (const [row, col] of cells) await clickImageAt(page, ((col + 0.5) * CHIP) / 256, ((row + 0.5) * CHIP) / 256);
    }
    const onSecond = await waitForShares(page, {});
    assert.ok(onSecond['hexagonal lattice'] > 10, JSON.stringify(onSecond));
    const counts = await page.locator(testid('project-image-supports')).allInnerTexts();
    assert.deepEqual(counts, ['4 supports', '4 supports']);
    pageClasses.b = classesOf(await readFile(await downloadTo(outDir, page, 'export-csv'), 'utf8'));

    // Back on a.tif: its supports are there, and it is classified with b.tif's hexagonal ones.
    await showImage(page, 'a.tif');
    const onFirst = await waitForShares(page, {});
    assert.ok(onFirst['hexagonal lattice'] > 10, JSON.stringify(onFirst));
    pageClasses.a = classesOf(await readFile(await downloadTo(outDir, page, 'export-csv'), 'utf8'));

    report = await projectReport(page, outDir);
    assert.match(report, /^image,class,chips,fraction,area \(nm²\)\n/);
    assert.match(report, /\nall images,hexagonal lattice,\d+,/);
    await page.locator(testid('project-strip')).scrollIntoViewIfNeeded();
    await screenshot(page, 'project.png');
    session = await downloadTo(outDir, page, 'export-session');

    // A movie added to the project: its frames are classified with the project's prototypes.
    await page.setInputFiles(testid('project-add'), movie);
    await showImage(page, 'movie.tif');
    await page.locator(testid('frames-about')).waitFor();
    await page.locator(testid('embed-status')).filter({ hasText: 'of movie.tif embedded' }).waitFor({ timeout: 120_000 });
    await page.locator(testid('segment-frames')).click();
    await page.locator(testid('frames-progress')).filter({ hasText: `${FRAMES} of ${FRAMES} frames` }).waitFor({ timeout: 240_000 });
    fractions = await readFile(await downloadTo(outDir, page, 'export-fractions-csv'), 'utf8');
  });

  const saved = JSON.parse(await readFile(session, 'utf8'));
  assert.equal(saved.version, 7);
  assert.equal(saved.source.name, 'a.tif');
  assert.deepEqual(saved.images.map((image) => image.name), ['b.tif']);
  assert.equal(saved.classes[2].supports.length, 0);
  assert.equal(saved.classes[2].elsewhere.length, 2);

  // The CLI applies the session to both images: the same classes on every chip, the same report.
  const out = join(outDir, 'cli');
  execFileSync(cli, ['segment', first, second, '--session', session, '--out', out], { stdio: 'pipe' });
  for (const name of ['a', 'b']) {
    const theirs = classesOf(await readFile(join(out, `${name}.csv`), 'utf8'));
    assert.deepEqual(differingChips(pageClasses[name], theirs), [], `${name}.tif`);
  }
  assert.equal(await readFile(join(out, 'project-report.csv'), 'utf8'), report);
  execFileSync(cli, ['segment', movie, '--session', session, '--out', join(outDir, 'cli-movie')], { stdio: 'pipe' });
  assert.equal(await readFile(join(outDir, 'cli-movie', 'movie-fractions.csv'), 'utf8'), fractions);

  // A fresh page opens the session on a.tif, names b.tif as missing, and takes it back.
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await page.setInputFiles(testid('file-input'), session);
    await page.setInputFiles(testid('file-input'), first);
    await page.locator(testid('project-missing')).waitFor({ timeout: 60_000 });
    assert.match(await page.locator(testid('project-missing')).innerText(), /b\.tif/);
    await page.setInputFiles(testid('project-add'), second);
    await page.locator(`${testid('project-image')}[data-name="b.tif"]`).waitFor({ timeout: 60_000 });
    assert.equal(await page.locator(testid('project-missing')).count(), 0);
    assert.equal(await projectReport(page, outDir), report);
  });
});
