// The formats microscopists bring, opened as a user opens them, in headless Chromium:
// - an FEI TIA .ser STEM image with its calibration, and with its .emi chosen alongside;
// - a JEOL .img chosen together with the .pts map of the same view, segmented by image and
//   spectra fused, and the saved session reproduced by `chipscope segment IMG --spectra PTS`;
// - a Berkeley EMD (a Prismatic simulation) and an MRC image (too small to chip: described, with the reason);
// - a damaged copy of each kind, which gets a message while the image already open stays.
// Reference values: rosettasciio 0.15.0 (crates/core/tests/real_tia_jeol_files.rs,
// real_berkeley_emd.rs) and the mrcfile fixtures (crates/core/tests/real_mrc_files.rs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join, basename } from 'node:path';
import {
  repoRoot, artifacts, serveStatic, withPage, screenshot, testid, waitForShares, downloadTo, freshDir,
  classesOf, differingChips, exists, setChipSize, selectEncoder, selectMode, labelChips, wrongChips,
} from './harness.mjs';

const cli = process.env.CHIPSCOPE_CLI ?? join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), 'debug', 'chipscope');
const testdata = join(process.env.CHIPSCOPE_TESTDATA ?? join(process.env.HOME, '.cache', 'chipscope', 'testdata'), 'hyperspy');
const ser = join(testdata, 'FEI_new', '128x128-TEM_search_1.ser');
const serWithEmi = [join(testdata, 'FEI_old', '16x16_STEM_BF_DF_acquire_1.ser'), join(testdata, 'FEI_old', '16x16_STEM_BF_DF_acquire.emi')];
const view = join(testdata, 'JEOL_files', 'Sample', '00_View000');
const img = join(view, 'View000_0000000.img');
const pts = join(view, 'View000_0000006.pts');
const berkeley = join(testdata, 'emd_files', 'Si100_3D.emd');
const mrc = join(repoRoot, 'crates', 'core', 'tests', 'fixtures', 'mrc', 'int16.mrc');
const outDir = join(artifacts, 'formats');
let server;

before(async () => {
  await freshDir(outDir);
  server = await serveStatic(join(repoRoot, 'dist'));
});
after(async () => server?.close());

const fetched = await exists(ser) && await exists(img) && await exists(berkeley);

test('a TIA .ser opens with its calibration, and with the facts of its .emi', { skip: !fetched && 'test files not fetched' }, async () => {
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await page.setInputFiles(testid('file-input'), ser);
    await page.locator(`${testid('dataset-name')}:has-text("128x128-TEM_search_1.ser")`).waitFor();
    assert.match(await page.locator(testid('dataset-format')).innerText(), /FEI TIA \(32-bit signed integer, grey\)/);
    assert.match(await page.locator(testid('dataset-shape')).innerText(), /128 × 128 px/);
    assert.match(await page.locator(testid('dataset-calibration')).innerText(), /5\.261 nm\/px; field of view 673\.4 × 673\.4 nm/);
    assert.equal(await page.locator(testid('chip-count')).innerText(), '256');
    await screenshot(page, 'formats-tia.png');

    await page.setInputFiles(testid('file-input'), serWithEmi);
    await page.locator(`${testid('dataset-name')}:has-text("16x16_STEM_BF_DF_acquire_1.ser")`).waitFor();
    assert.match(await page.locator(testid('dataset-acquisition')).innerText(), /acceleration voltage 200 kV; magnification 10000×; mode STEM nP SA Zoom Diffraction; microscope Tecnai 200 kV D2267 SuperTwin/);
  });
});

// 64-px chips of the JEOL view: vacuum top left, carbon bottom right, the Fe–S band between
// (the spectra test's 32-px chips, halved).
const JEOL_SUPPORTS = { vacuum: [[0, 0], [1, 1]], carbon: [[6, 6], [7, 7]], 'Fe-S': [[1, 6], [5, 2]] };
const JEOL_CLEAR = { vacuum: [[0, 1], [1, 0]], carbon: [[7, 6], [6, 7]] };

test('a JEOL .img chosen with its .pts segments by image and spectra fused, in the page, the CLI and a fresh page', { skip: !fetched && 'test files not fetched' }, async () => {
  let sessionPath;
  let counts;
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await page.setInputFiles(testid('file-input'), [img, pts]);
    await page.locator(testid('spectra-status')).waitFor();
    assert.match(await page.locator(testid('dataset-name')).innerText(), /View000_0000000\.img/);
    assert.match(await page.locator(testid('dataset-format')).innerText(), /JEOL IMG \(8-bit unsigned integer, grey\)/);
    assert.match(await page.locator(testid('dataset-calibration')).innerText(), /8\.691 nm\/px/);
    assert.match(await page.locator(testid('spectra-status')).innerText(), /JEOL PTS spectrum image, 512 × 512 px × 4096 channels/);
    assert.equal(await page.locator(testid('spectra-mismatch')).count(), 0);
    assert.equal(await page.locator(testid('weight-spectra')).inputValue(), '1');
    assert.equal(await page.locator(testid('weight-image')).inputValue(), '1');

    await selectEncoder(page, 'mobilenet_v2');
    await selectMode(page, 'per_chip');
    await setChipSize(page, 64);
    await labelChips(page, JEOL_SUPPORTS, 64, [512, 512]);
    counts = await waitForShares(page, {});
    assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), 64, JSON.stringify(counts));
    const classes = classesOf(await readFile(await downloadTo(outDir, page, 'export-csv'), 'utf8'));
    assert.deepEqual(wrongChips(classes, JEOL_SUPPORTS), [], 'supports keep their class');
    assert.deepEqual(wrongChips(classes, JEOL_CLEAR), []);
    await screenshot(page, 'formats-jeol-fused.png');

    sessionPath = await downloadTo(outDir, page, 'export-session');
    const session = JSON.parse(await readFile(sessionPath, 'utf8'));
    assert.equal(session.source.name, 'View000_0000000.img');
    assert.equal(session.spectra.source.name, 'View000_0000006.pts');
    assert.deepEqual(session.fusion.weights, { image: 1, spectra: 1 });

    const out = join(outDir, 'cli');
    execFileSync(cli, ['segment', img, '--spectra', pts, '--session', sessionPath, '--out', out], { stdio: 'pipe' });
    const fromCli = classesOf(await readFile(join(out, `${basename(img, '.img')}.csv`), 'utf8'));
    const differing = differingChips(classes, fromCli);
    assert.ok(differing.length <= 1, `page and CLI differ on ${differing}`);
  });

  // A fresh page given the session asks for its data; choosing the image and its map together
  // restores the fused segmentation.
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await page.setInputFiles(testid('session-input'), sessionPath);
    await page.setInputFiles(testid('need-data-input'), [img, pts]);
    assert.deepEqual(await waitForShares(page, {}), counts);
    assert.match(await page.locator(testid('spectra-status')).innerText(), /JEOL PTS spectrum image/);
  });
});

test('a Berkeley EMD opens; an MRC too small to chip is described with the reason', { skip: !fetched && 'test files not fetched' }, async () => {
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await page.setInputFiles(testid('file-input'), berkeley);
    await page.locator(`${testid('dataset-name')}:has-text("Si100_3D.emd")`).waitFor();
    assert.match(await page.locator(testid('dataset-format')).innerText(), /Berkeley EMD/);
    assert.match(await page.locator(testid('dataset-shape')).innerText(), /22 × 22 px/);
    assert.match(await page.locator(testid('dataset-calibration')).innerText(), /0\.25 nm\/px/);
    assert.equal(await page.locator(testid('chip-count')).innerText(), '4');
    await screenshot(page, 'formats-berkeley.png');

    await page.setInputFiles(testid('file-input'), mrc);
    await page.locator(`${testid('dataset-name')}:has-text("int16.mrc")`).waitFor();
    assert.match(await page.locator(testid('dataset-format')).innerText(), /^MRC/);
    assert.match(await page.locator(testid('dataset-shape')).innerText(), /7 × 5 px/);
    assert.match(await page.locator(testid('no-grid')).innerText(), /No chip grid fits: the image \(7 × 5 px\) is smaller than the smallest chip \(8 px\)/);
    assert.equal(await page.locator(testid('embed')).isDisabled(), true);
    await screenshot(page, 'formats-too-small.png');
  });
});

test('a damaged file of each new kind gets a message and the image open stays', { skip: !fetched && 'test files not fetched' }, async () => {
  await withPage({ webgpu: false, url: `${server.url}?example` }, async ({ page }) => {
    await page.locator(testid('dataset-shape')).waitFor();
    for (const [source, format] of [[ser, 'FEI TIA'], [img, 'JEOL IMG'], [berkeley, 'Berkeley EMD'], [mrc, 'MRC']]) {
      const bytes = await readFile(source);
      const damaged = join(outDir, `damaged-${basename(source)}`);
      await writeFile(damaged, bytes.subarray(0, Math.floor(bytes.length / 2)));
      await page.setInputFiles(testid('file-input'), damaged);
      const error = page.locator(`${testid('error')}:has-text("damaged-${basename(source)}")`);
      await error.waitFor();
      assert.match(await error.innerText(), new RegExp(`the ${format} file is damaged or truncated`));
      assert.match(await page.locator(testid('dataset-name')).innerText(), /example/);
    }
    await screenshot(page, 'formats-damaged.png');
  });
});
