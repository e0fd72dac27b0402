// The spectral modality as a microscopist uses it, in headless Chromium, on real files from
// HyperSpy 1.7.6's test data:
// - a JEOL .pts map (512 × 512 × 4096, ~1 count per pixel, no electron image) opened as the
//   image: vacuum, carbon and an Fe–S band segmented by the spectra alone, raw and spec2vec,
//   with the class spectra, line markers and an element map; the saved session reproduced by
//   `chipscope segment` and by a fresh page;
// - a Bruker .bcf map opened beside another image: the mismatch is reported, its BSE image
//   taken instead, and its three mineral phases segmented by their spectra;
// - a Velox .emd opened as the image (its HAADF, with its EDS map), an EMSA spectrum and a
//   Lispix .rpl + .raw pair opened in the Spectra panel.
// Expected chips come from element windows summed per chip with rosettasciio 0.15.0.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  repoRoot, artifacts, serveStatic, withPage, screenshot, testid, shares, waitForShares, downloadTo, freshDir,
  classesOf, segmentInCli, differingChips, exists, setChipSize, labelChips, wrongChips,
} from './harness.mjs';

const cli = process.env.CHIPSCOPE_CLI ?? join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), 'debug', 'chipscope');
const testdata = join(process.env.CHIPSCOPE_TESTDATA ?? join(process.env.HOME, '.cache', 'chipscope', 'testdata'), 'hyperspy');
const pts = join(testdata, 'JEOL_files', 'Sample', '00_View000', 'View000_0000006.pts');
const p45 = join(testdata, 'bruker_data', 'P45_the_default_job.bcf');
const outDir = join(artifacts, 'spectra');
let server;

before(async () => {
  await freshDir(outDir);
  server = await serveStatic(join(repoRoot, 'dist'));
});
after(async () => server?.close());

const download = (page, id) => downloadTo(outDir, page, id);

// JEOL map, 32-px chips: element windows (C Kα, S Kα, Fe Kα ± 0.15 keV) per chip put vacuum in
// the top left, carbon in the bottom right and an Fe–S band between them.
const JEOL_SUPPORTS = { vacuum: [[0, 0], [3, 2]], carbon: [[12, 12], [15, 15]], 'Fe-S': [[2, 13], [10, 4]] };
const JEOL_EXPECTED = {
  vacuum: [[0, 5], [1, 4], [4, 1], [6, 3]],
  carbon: [[9, 12], [11, 0], [12, 10], [15, 1], [14, 14]],
  'Fe-S': [[0, 15], [2, 11], [4, 9], [7, 8], [10, 3]],
};

test('a JEOL map segments by its spectra, raw and spec2vec, in the page, the CLI and a fresh page', { skip: !(await exists(pts)) && 'JEOL test file not fetched' }, async () => {
  let sessionPath;
  let pageShares;
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await page.setInputFiles(testid('file-input'), pts);
    await page.locator(testid('spectra-status')).waitFor();
    const status = await page.locator(testid('spectra-status')).innerText();
    // rosettasciio 0.15.0: 512 × 512 × 4096, 308 261 counts (crates/core/tests/spectral_pts.rs).
    assert.match(status, /JEOL PTS spectrum image, 512 × 512 px × 4096 channels/);
    assert.match(status, /308261 counts/);
    assert.match(await page.locator(testid('dataset-shape')).innerText(), /512 × 512/);
    const elements = await page.locator(testid('spectra-elements')).inputValue();
    for (const element of ['C', 'S', 'Fe']) assert.ok(elements.split(', ').includes(element), elements);
    assert.equal(await page.locator(testid('weight-spectra')).inputValue(), '1');

    await setChipSize(page, 32);
    await page.locator(testid('weight-image')).fill('0');
    await labelChips(page, JEOL_SUPPORTS, 32, [512, 512]);
    pageShares = await waitForShares(page, {});
    assert.equal(Object.values(pageShares).reduce((a, b) => a + b, 0), 256, JSON.stringify(pageShares));
    assert.equal(await page.locator(testid('embedded')).count(), 0, 'nothing was embedded');
    const raw = classesOf(await readFile(await download(page, 'export-csv'), 'utf8'));
    assert.deepEqual(wrongChips(raw, JEOL_EXPECTED), [], 'raw spectra');

    // The class spectra with the marked lines, and the Fe map over the image.
    const curves = await page.locator(testid('spectrum-curve')).evaluateAll((c) => c.map((e) => e.dataset.name));
    assert.deepEqual(curves, ['sum', 'vacuum', 'carbon', 'Fe-S']);
    assert.ok((await page.locator(testid('line-marker')).count()) >= 3);
    await page.locator(testid('element-map')).selectOption('Fe');
    await page.locator(`${testid('element-overlay')}:not(.hidden)[data-line="Fe Ka"]`).waitFor();
    await screenshot(page, 'spectra-jeol-raw.png');

    // spec2vec: trained in the page with a progress bar, then the same chips.
    const started = Date.now();
    await page.locator(testid('spectra-spec2vec')).check();
    await page.locator(testid('spec2vec-progress')).waitFor();
    await page.locator(testid('spec2vec-progress')).waitFor({ state: 'detached', timeout: 120_000 });
    console.log(`spec2vec trained on 256 chips in the page in ${Date.now() - started} ms`);
    await page.waitForTimeout(200);
    pageShares = await shares(page);
    const spec2vec = classesOf(await readFile(await download(page, 'export-csv'), 'utf8'));
    assert.deepEqual(wrongChips(spec2vec, JEOL_EXPECTED), [], 'spec2vec');
    await screenshot(page, 'spectra-jeol-spec2vec.png');

    sessionPath = await download(page, 'export-session');
    const session = JSON.parse(await readFile(sessionPath, 'utf8'));
    assert.equal(session.version, 7);
    assert.equal(session.spectra.source.name, 'View000_0000006.pts');
    assert.equal(session.spectra.encoder.kind, 'spec2vec');
    assert.deepEqual(session.fusion.weights, { image: 0, spectra: 1 });

    // The same session in the CLI, on the same file: spec2vec trained natively with the same
    // seed gives the page's classes.
    const fromCli = await segmentInCli(cli, pts, sessionPath, join(outDir, 'cli'));
    const differing = differingChips(spec2vec, fromCli);
    assert.ok(differing.length <= 2, `page and CLI differ on ${differing}`);
  });

  // A fresh page opening the session asks for the .pts, trains spec2vec again and gives the
  // same counts.
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await page.setInputFiles(testid('session-input'), sessionPath);
    await page.setInputFiles(testid('need-data-input'), pts);
    assert.deepEqual(await waitForShares(page, {}), pageShares);
    assert.equal(await page.locator(testid('spectra-spec2vec')).isChecked(), true);
    assert.equal(await page.locator(testid('embedded')).count(), 0);
  });
});

// Bruker P45 in 8-px chips: a silica matrix, a feldspar rich in Al and Na in the lower left,
// and grains rich in Fe and Mg (bright in BSE).
const P45_SUPPORTS = { silica: [[4, 4], [4, 8], [3, 2]], feldspar: [[7, 0], [8, 1]], 'Fe-Mg': [[1, 6], [2, 6]] };
const P45_EXPECTED = {
  'Fe-Mg': [[0, 4], [0, 5], [1, 10]],
  feldspar: [[6, 0], [7, 2]],
  silica: [[5, 5], [3, 9]],
};

test('a Bruker map opened beside another image is refused, its BSE image taken, and its phases segmented', { skip: !(await exists(p45)) && 'Bruker test file not fetched' }, async () => {
  await withPage({ webgpu: false, url: `${server.url}?example` }, async ({ page }) => {
    await page.locator(testid('dataset-shape')).waitFor();
    await page.setInputFiles(testid('spectra-input'), p45);
    await page.locator(testid('spectra-mismatch')).waitFor();
    assert.match(await page.locator(testid('spectra-mismatch')).innerText(), /aspect ratios differ/);
    assert.match(await page.locator(testid('fusion-panel')).innerText(), /Open a spectrum image of this field of view/);

    await page.locator(testid('use-survey')).click();
    await page.locator(testid('spectra-mismatch')).waitFor({ state: 'detached' });
    assert.match(await page.locator(testid('dataset-shape')).innerText(), /100 × 75/);
    assert.match(await page.locator(testid('spectra-status')).innerText(), /100 × 75 px × 2048 channels/);

    await setChipSize(page, 8);
    await page.locator(testid('weight-image')).fill('0');
    await labelChips(page, P45_SUPPORTS, 8, [100, 75]);
    await waitForShares(page, {});
    const classes = classesOf(await readFile(await download(page, 'export-csv'), 'utf8'));
    assert.deepEqual(wrongChips(classes, P45_EXPECTED), []);
    await screenshot(page, 'spectra-bruker.png');
  });
});

test('a Velox EMD opens as its HAADF with its map; EMSA and Lispix files open in the Spectra panel, bad ones get a message', async (t) => {
  const emd = join(outDir, 'fei_SI_SuperX-HAADF_10frames_10x50.emd');
  const zip = join(testdata, 'emd_files', 'fei_emd_files.zip');
  if (!(await exists(zip))) return t.skip('Velox test files not fetched');
  execFileSync('python3', ['-c', `import zipfile; zipfile.ZipFile(${JSON.stringify(zip)}).extract('fei_SI_SuperX-HAADF_10frames_10x50.emd', ${JSON.stringify(outDir)})`]);
  const msa = join(testdata, 'msa_files', 'example1.msa');
  const ripple = join(testdata, 'ripple_files', 'test_ripple_sdim-1_ndim-2_uint16');
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await page.setInputFiles(testid('file-input'), emd);
    await page.locator(testid('spectra-status')).waitFor();
    // rosettasciio 0.15.0 (crates/core/tests/spectral_emd.rs): 4096 channels, 764 005 counts.
    const status = await page.locator(testid('spectra-status')).innerText();
    assert.match(status, /Velox EMD spectrum image, 10 × 50 px × 4096 channels/);
    assert.match(status, /764005 counts/);
    assert.match(await page.locator(testid('dataset-notes')).innerText(), /HAADF image of the Velox EMD file/);

    await page.setInputFiles(testid('spectra-input'), msa);
    await page.locator(`${testid('spectra-status')}:has-text("single EMSA/MSA spectrum, 21 channels")`).waitFor();
    await page.locator(`${testid('spectrum-curve')}[data-name="sum"]`).waitFor();

    await page.setInputFiles(testid('spectra-input'), [`${ripple}.rpl`, `${ripple}.raw`]);
    await page.locator(`${testid("spectra-status")}:has-text("Lispix ripple spectrum image, 3 × 2 px × 4 channels")`).waitFor();

    // Bad input gets a message and the spectra already open stay.
    const notes = join(outDir, 'notes.bcf');
    await writeFile(notes, 'plain text, not a spectrum image');
    await page.setInputFiles(testid('spectra-input'), notes);
    await page.locator(`${testid('error')}:has-text("notes.bcf: this is not a file Chipscope can read")`).waitFor();
    await page.setInputFiles(testid('spectra-input'), `${ripple}.rpl`);
    await page.locator(`${testid('error')}:has-text("needs its .raw data")`).waitFor();
    await page.locator(`${testid("spectra-status")}:has-text("Lispix ripple spectrum image")`).waitFor();
  });
});
