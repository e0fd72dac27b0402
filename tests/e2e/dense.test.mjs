// Dense embeddings in the page, in headless Chromium: the example segments in dense mode by
// default (the trunk run once over the image, each chip pooled from the feature map) while the
// page stays responsive; a new chip size is pooled again from the cached map without running
// the network, and the segmentation follows; a pyCHIP session written before dense mode existed
// (version 4, no mode) still gives exactly the counts it gave then; and the feature map the page
// downloads matches PyTorch's (tests/fixtures/dense, whole_cases, made by
// scripts/weights/dense_reference.py) on the WebAssembly CPU and on WebGPU (SwiftShader).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  repoRoot, artifacts, serveStatic, withPage, screenshot, testid, waitForShares, setChipSize,
  selectEncoder, selectMode, downloadTo, freshDir, parseNpy, classesOf, clickChip, longestGap, leaveFields,
} from './harness.mjs';

const testdata = process.env.CHIPSCOPE_TESTDATA ?? join(process.env.HOME, '.cache/chipscope/testdata');
const dm3 = join(testdata, 'hyperspy/dm3_2D_data/multi_signal.dm3');
const fixtures = join(repoRoot, 'tests/fixtures/dense');
const outDir = join(artifacts, 'dense');
const cli = process.env.CHIPSCOPE_CLI ?? join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), 'debug', 'chipscope');
/** The bound of the native parity test (`dense_maps_match_pytorch`): max|ours − torch| / max|torch|. */
const TOLERANCE = 1e-4;
let server;

before(async () => {
  await freshDir(outDir);
  server = await serveStatic(join(repoRoot, 'dist'));
});
after(async () => server?.close());

const download = (page, id) => downloadTo(outDir, page, id);

async function waitForBackend(page) {
  await page.locator(`${testid('backend')}:not([data-backend="pending"])`).waitFor({ timeout: 60_000 });
}

async function loadExample(page) {
  await waitForBackend(page);
  await page.locator(testid('load-example')).click();
  await page.locator(testid('dataset-shape')).waitFor();
}

/** How many times the page ran a network (per-chip or dense pass). */
async function networkRuns(page) {
  return Number(await page.locator(testid('encoder-panel')).getAttribute('data-network-runs'));
}

/** Waits until `count` chips are embedded in `mode` ('dense' or 'per_chip'). */
async function embeddedChips(page, count, mode, timeout = 240_000) {
  await page.locator(`${testid('embedded')}[data-count="${count}"][data-mode="${mode}"]`).waitFor({ timeout });
}

/** Names the classes after the keys of `supports` and clicks each class's chips on a `grid`² grid. */
async function label(page, supports, grid) {
  await nameClasses(page, Object.keys(supports));
  await clickSupports(page, supports, grid);
}

async function nameClasses(page, names) {
  while ((await page.locator(testid('class-name')).count()) < names.length) {
    await page.locator(testid('add-class')).click();
  }
  for (const [i, name] of names.entries()) {
    await page.locator(testid('class-name')).nth(i).fill(name);
    await page.locator(testid('class-name')).nth(i).dispatchEvent('change');
  }
}

/** Clicks each class's chips (`supports`, in class order) on a `grid`² grid. */
async function clickSupports(page, supports, grid) {
  await leaveFields(page);
  for (const [i, cells] of Object.values(supports).entries()) {
    await page.keyboard.press(String(i + 1));
    for (const cell of cells) await clickChip(page, cell, grid);
  }
}

const sum = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);

// The simulated example, 32-px chips (16 × 16): vacuum on top, the square lattice left of the
// interface, the hexagonal one right of it, the amorphous support at the bottom.
const SUPPORTS_32 = {
  vacuum: [[0, 2], [0, 12]],
  square: [[6, 2], [9, 3]],
  hexagonal: [[6, 12], [9, 13]],
  amorphous: [[15, 2], [15, 12]],
};
// The same on 64-px chips (8 × 8).
const SUPPORTS_64 = {
  vacuum: [[0, 1], [0, 6]],
  square: [[3, 1], [4, 2]],
  hexagonal: [[3, 6], [4, 5]],
  amorphous: [[7, 1], [7, 6]],
};

test('the example segments in dense mode by default (MobileNetV2), and the page stays responsive (CPU, ResNet-50)', async () => {
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await loadExample(page);
    assert.equal(await page.locator(testid('embed-mode')).inputValue(), 'dense');
    await page.locator(`${testid('encoder-select')} option[value="resnet50"]`).waitFor({ state: 'attached' });
    assert.equal(await page.locator(testid('encoder-select')).inputValue(), 'mobilenet_v2');
    assert.equal(await page.locator(testid('dense-stage')).inputValue(), 'features.6');
    assert.equal(await page.locator(testid('dense-scale')).inputValue(), '2');
    // The heavier encoder shows whether the page stays responsive.
    await selectEncoder(page, 'resnet50');
    assert.equal(await page.locator(testid('dense-stage')).inputValue(), 'layer3');
    assert.equal(await networkRuns(page), 0);

    // The first click starts the embedding by itself; the page stays responsive meanwhile.
    await nameClasses(page, Object.keys(SUPPORTS_32));
    await clickSupports(page, { vacuum: SUPPORTS_32.vacuum.slice(0, 1) }, 16);
    await page.locator(testid('embed-progress')).waitFor({ timeout: 120_000 });
    assert.match(await page.locator(testid('embed-rate')).innerText(), /^\d+\/4 windows · [\d.]+ windows\/s$/);
    const gap = await longestGap(page, 3000);
    console.log(`  longest main-thread gap during the dense ResNet-50 pass on the CPU's thread pool: ${gap.toFixed(0)} ms`);
    assert.ok(gap < 100, `the page froze for ${gap} ms`);
    await clickSupports(page, { ...SUPPORTS_32, vacuum: SUPPORTS_32.vacuum.slice(1) }, 16);

    await embeddedChips(page, 256, 'dense');
    const counts = await waitForShares(page, {});
    const status = await page.locator(testid('embed-status')).innerText();
    const longest = await page.locator(testid('encoder-panel')).getAttribute('data-longest-step-ms');
    console.log(`  ${status}`);
    console.log(`  longest uninterrupted step of the run: ${longest} ms; counts ${JSON.stringify(counts)}`);
    assert.match(status, /^256 chips of example: simulated heterostructure embedded with ResNet-50 \(1024-d\), dense \(layer3 ×2\), on CPU in [\d.]+ s \(\d+ windows, map 64 × 64\)/);
    assert.equal(await networkRuns(page), 1);
    assert.equal(sum(counts), 256);
    for (const name of Object.keys(SUPPORTS_32)) assert.ok(counts[name] > 0, JSON.stringify(counts));

    const classes = classesOf(await readFile(await download(page, 'export-csv'), 'utf8'));
    for (const [name, cells] of Object.entries(SUPPORTS_32)) {
      for (const [row, col] of cells) assert.equal(classes[`${row},${col}`], name, `support [${row}, ${col}]`);
    }
    const chips = parseNpy(await readFile(await download(page, 'download-npy')));
    assert.deepEqual(chips.shape, [256, 1024]);
    const map = parseNpy(await readFile(await download(page, 'download-map')));
    assert.deepEqual(map.shape, [64, 64, 1024]);
    await screenshot(page, 'dense-example.png');

    const session = JSON.parse(await readFile(await download(page, 'export-session'), 'utf8'));
    assert.equal(session.version, 7);
    assert.deepEqual(session.encoder.mode, { kind: 'dense', stage: 'layer3', scale: 2 });
  });
});

/**
 * The grey values of a PNG's pixels, decoded by the browser (from a Blob: the page's
 * Content-Security-Policy lets it fetch no data: URL).
 */
function greyPixels(page, bytes) {
  return page.evaluate(async (base64) => {
    const blob = new Blob([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))], { type: 'image/png' });
    const bitmap = await createImageBitmap(blob);
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d');
    context.drawImage(bitmap, 0, 0);
    const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
    return { width: bitmap.width, height: bitmap.height, grey: Array.from(data.filter((_, i) => i % 4 === 0)) };
  }, bytes.toString('base64'));
}

test('the fine view classifies every cell of the map, lists its shares, and exports the label image the CLI writes', async () => {
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await loadExample(page);
    await selectEncoder(page, 'mobilenet_v2');
    await label(page, SUPPORTS_32, 16);
    await embeddedChips(page, 256, 'dense');
    await waitForShares(page, {});

    // features.6 ×2: a cell every 4 px, 128 × 128 cells over the 512² example.
    await page.locator(testid('view-mode')).selectOption('fine');
    await page.waitForFunction(() => document.querySelector('[data-testid="segmentation-overlay"]').width === 128);
    const rows = page.locator(testid('fine-share-row'));
    const fractions = await rows.evaluateAll((cells) => cells.map((c) => Number(c.dataset.fraction)));
    assert.ok(fractions.length >= 4, `${fractions}`);
    assert.ok(Math.abs(fractions.reduce((a, b) => a + b, 0) - 1) < 1e-9, `${fractions}`);
    await screenshot(page, 'dense-fine-view.png');

    const fine = await greyPixels(page, await readFile(await download(page, 'export-fine-labels')));
    assert.deepEqual([fine.width, fine.height], [512, 512]);
    assert.ok(fine.grey.every((v) => v >= 1 && v <= 4), 'every pixel of the grid has one of the 4 classes');
    const chips = await greyPixels(page, await readFile(await download(page, 'export-labels')));
    const same = fine.grey.filter((v, i) => v === chips.grey[i]).length / fine.grey.length;
    console.log(`  fine labels agree with the chips' on ${(100 * same).toFixed(1)} % of the pixels`);
    assert.ok(same > 0.7 && same < 1, `${same}`);

    // The CLI applies the saved session to the same image and writes the same fine labels.
    const session = await download(page, 'export-session');
    const tiff = join(outDir, 'example.tif');
    execFileSync(cli, ['simulate', '--size', '512', '--seed', '1', '--out', tiff], { stdio: 'pipe' });
    execFileSync(cli, ['segment', tiff, '--session', session, '--out', join(outDir, 'cli')], { stdio: 'pipe' });
    const byCli = await greyPixels(page, await readFile(join(outDir, 'cli', 'example-fine-labels.png')));
    const differing = fine.grey.filter((v, i) => v !== byCli.grey[i]).length;
    console.log(`  fine labels differing between the page and the CLI: ${differing} of ${fine.grey.length} pixels`);
    assert.ok(differing <= fine.grey.length / 1000, `${differing} pixels differ`);
  });
});

test('a new chip size is pooled from the cached map without running the network, and the segmentation follows', async () => {
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await loadExample(page);
    await selectEncoder(page, 'mobilenet_v2');
    assert.equal(await page.locator(testid('dense-stage')).inputValue(), 'features.6');
    await label(page, SUPPORTS_32, 16);
    await embeddedChips(page, 256, 'dense');
    const at32 = await waitForShares(page, {});
    assert.equal(sum(at32), 256);
    console.log(`  ${await page.locator(testid('embed-status')).innerText()}`);
    assert.equal(await networkRuns(page), 1);
    // Once built, the encoder offers all its stages.
    const stages = await page.locator(`${testid('dense-stage')} option`).allInnerTexts();
    assert.deepEqual(stages, Array.from({ length: 19 }, (_, i) => `features.${i}`));

    // 64-px chips: pooled again at once, no network run; the supports of the 32-px grid wait.
    await setChipSize(page, 64);
    await embeddedChips(page, 64, 'dense', 5_000);
    const status = await page.locator(testid('embed-status')).innerText();
    console.log(`  ${status}`);
    assert.match(status, /^re-pooled 64 chips from the cached feature map in [\d.]+ ms$/);
    assert.equal(await networkRuns(page), 1);
    await page.locator(testid('grid-mismatch')).waitFor();

    // Supports on the 64-px grid classify at once, still without running the network.
    await clickSupports(page, SUPPORTS_64, 8);
    const at64 = await waitForShares(page, at32);
    assert.equal(sum(at64), 64, JSON.stringify(at64));
    assert.equal(await networkRuns(page), 1);
    await screenshot(page, 'dense-repooled-64.png');

    // The slider too: 48-px chips (10 × 10) pooled as it moves.
    await page.locator(testid('chip-slider')).fill('48');
    await embeddedChips(page, 100, 'dense', 5_000);
    assert.equal(await networkRuns(page), 1);

    // Undo the 64-px supports (the first of those clicks set the 32-px ones aside) and go back
    // to 32 px: the first segmentation again, from the cache.
    await leaveFields(page);
    for (let i = 0; i < 8; i++) await page.keyboard.press('Control+z');
    await setChipSize(page, 32);
    await embeddedChips(page, 256, 'dense', 5_000);
    assert.deepEqual(await waitForShares(page, {}), at32);
    assert.equal(await networkRuns(page), 1);

    // Another scale is another map: the network runs again.
    await page.locator(testid('dense-scale')).selectOption('1');
    await page.locator(`${testid('embed')}:not([disabled])`).click();
    await page.locator(`${testid('embed-status')}:has-text("dense (features.6 ×1)")`).waitFor({ timeout: 120_000 });
    assert.equal(await networkRuns(page), 2);
    assert.equal(sum(await waitForShares(page, {})), 256);
  });
});

test('a pyCHIP session from before dense mode (version 4) gives the same counts as it did then', async () => {
  // Made with the page before dense mode existed (per chip, MobileNetV2, 64-px chips of the
  // example): its session file and per-chip CSV, and the counts that page showed.
  const sessionPath = join(fixtures, 'example_per_chip_v4_session.json');
  const before = classesOf(await readFile(join(fixtures, 'example_per_chip_v4_classes.csv'), 'utf8'));
  const countsThen = { vacuum: 7, square: 20, hexagonal: 28, amorphous: 9 };
  const session = JSON.parse(await readFile(sessionPath, 'utf8'));
  assert.equal(session.version, 4);
  assert.equal(session.encoder.mode, undefined);
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await waitForBackend(page);
    await page.setInputFiles(testid('session-input'), sessionPath);
    await embeddedChips(page, 64, 'per_chip');
    assert.deepEqual(await waitForShares(page, {}), countsThen);
    assert.equal(await page.locator(testid('embed-mode')).inputValue(), 'per_chip');
    const perChip = await page.locator(testid('embed-status')).innerText();
    assert.match(perChip, /MobileNetV2 \(1280-d\), pyCHIP \(per chip\), on CPU/);
    const classes = classesOf(await readFile(await download(page, 'export-csv'), 'utf8'));
    assert.deepEqual(classes, before, 'every chip has the class it had before dense mode');
    const saved = JSON.parse(await readFile(await download(page, 'export-session'), 'utf8'));
    assert.equal(saved.version, 7);
    assert.deepEqual(saved.encoder.mode, { kind: 'per_chip' });
    assert.equal(await networkRuns(page), 1);

    // The same chips in dense mode, for the time it takes; then back to pyCHIP from the cache.
    await selectMode(page, 'dense');
    await page.locator(`${testid('embed')}:not([disabled])`).click();
    await embeddedChips(page, 64, 'dense');
    const dense = await page.locator(testid('embed-status')).innerText();
    const denseCounts = await waitForShares(page, {});
    console.log(`  per chip: ${perChip}`);
    console.log(`  dense:    ${dense}`);
    console.log(`  counts per chip ${JSON.stringify(countsThen)}, dense ${JSON.stringify(denseCounts)}`);
    assert.equal(sum(denseCounts), 64);
    assert.equal(await networkRuns(page), 2);
    await selectMode(page, 'per_chip');
    await embeddedChips(page, 64, 'per_chip', 5_000);
    assert.deepEqual(await waitForShares(page, {}), countsThen);
    assert.equal(await networkRuns(page), 2);
  });
});

/** A stored fixture (16, rows, cols) against the first 16 channels of our (rows, cols, C) map. */
function mapError(ours, reference) {
  const [channels, rows, cols] = reference.shape;
  assert.deepEqual(ours.shape.slice(0, 2), [rows, cols]);
  const stride = ours.shape[2];
  let worst = 0; let largest = 0;
  for (let c = 0; c < channels; c++) {
    for (let r = 0; r < rows; r++) {
      for (let x = 0; x < cols; x++) {
        const want = reference.values[(c * rows + r) * cols + x];
        const got = ours.values[(r * cols + x) * stride + c];
        worst = Math.max(worst, Math.abs(got - want));
        largest = Math.max(largest, Math.abs(want));
      }
    }
  }
  return worst / largest;
}

async function checkMap(page, label, fixture, shape) {
  const cases = JSON.parse(await readFile(join(fixtures, 'cases.json'), 'utf8'));
  const entry = cases.whole_cases.find((c) => c.file === fixture);
  assert.deepEqual(entry.full_shape, [shape[2], shape[0], shape[1]]);
  const reference = parseNpy(await readFile(join(fixtures, fixture)));
  const ours = parseNpy(await readFile(await download(page, 'download-map')));
  assert.deepEqual(ours.shape, shape);
  const error = mapError(ours, reference);
  console.log(`  ${label}: relative error ${error.toExponential(2)} · ${await page.locator(testid('embed-status')).innerText()}`);
  assert.ok(error <= TOLERANCE, `${label}: ${error}`);
}

for (const webgpu of [false, true]) {
  const backend = webgpu ? 'WebGPU (SwiftShader)' : 'WebAssembly CPU';

  test(`the page's dense feature maps match PyTorch on a real STEM image: ${backend}`, async (t) => {
    if (!existsSync(dm3)) return t.skip(`${dm3} not found; run scripts/fetch-testdata.sh`);
    await withPage({ webgpu, url: server.url }, async ({ page }) => {
      await waitForBackend(page);
      assert.equal(await page.locator(testid('backend')).getAttribute('data-backend'), webgpu ? 'webgpu' : 'cpu');
      await page.setInputFiles(testid('file-input'), dm3);
      await page.locator(testid('dataset-shape')).waitFor();
      await selectEncoder(page, 'mobilenet_v2');
      assert.equal(await page.locator(testid('dense-stage')).inputValue(), 'features.6');
      assert.equal(await page.locator(testid('dense-scale')).inputValue(), '2');
      await page.locator(`${testid('embed')}:not([disabled])`).click();
      await embeddedChips(page, 256, 'dense', 300_000);
      await checkMap(page, `MobileNetV2 features.6 ×2 on ${backend}`, 'whole_mobilenet_v2_features.6_x2.npy', [128, 128, 32]);
      await screenshot(page, `dense-map-${webgpu ? 'webgpu' : 'cpu'}.png`);

      // ResNet-50 on the CPU only: SwiftShader's emulated GPU needs minutes for it.
      if (webgpu) return;
      await selectEncoder(page, 'resnet50');
      assert.equal(await page.locator(testid('dense-stage')).inputValue(), 'layer3');
      await page.locator(`${testid('embed')}:not([disabled])`).click();
      await page.locator(`${testid('embed-status')}:has-text("ResNet-50 (1024-d), dense (layer3 ×2)")`).waitFor({ timeout: 300_000 });
      await checkMap(page, `ResNet-50 layer3 ×2 on ${backend}`, 'whole_resnet50_layer3_x2.npy', [64, 64, 1024]);
    });
  });
}
