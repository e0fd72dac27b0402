// Embedding chips in the page, in real headless Chromium, on WebGPU (SwiftShader) and on the
// WebAssembly CPU path: the shipped weights download with a progress bar and come from the Cache
// API on the next visit, the embeddings of a real STEM image match PyTorch's (the fixtures of
// tests/fixtures/encoders, made by scripts/weights/reference.py), a run can be cancelled while
// the page stays responsive, and a user's own .pth file works. The CPU path runs on a pool of
// workers (the threaded build), or on one thread, saying so, where the page cannot be
// cross-origin isolated. Prints the in-browser chips/s.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot, serveStatic, withPage, launchBrowser, openPage, screenshot, selectEncoder, selectMode, parseNpy, longestGap } from './harness.mjs';

const testdata = process.env.CHIPSCOPE_TESTDATA ?? join(process.env.HOME, '.cache/chipscope/testdata');
const stemImage = join(testdata, 'hyperspy/dm3_2D_data/multi_signal.dm3');
const userWeights = join(testdata, 'weights/imgsim-resnet50.pth');
const fixtures = join(repoRoot, 'tests/fixtures/encoders');
/** The bound on max|ours − reference| / max|reference| per embedding. */
const TOLERANCE = 1e-4;
let server;
/** Each backend's embeddings of the 2 × 2 grid, by encoder, to compare WebGPU with the CPU. */
const byBackend = { webgpu: {}, cpu: {} };

before(async () => { server = await serveStatic(join(repoRoot, 'dist')); });
after(async () => server?.close());

const testid = (id) => `[data-testid="${id}"]`;

async function fixture(name) {
  return parseNpy(await readFile(join(fixtures, `${name}.npy`)));
}

function row({ shape, values }, index) {
  const dim = shape[1];
  return values.subarray(index * dim, (index + 1) * dim);
}

function relativeError(got, want) {
  let scale = 0; let worst = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    worst = Math.max(worst, Math.abs(got[i] - want[i]));
  }
  return worst / scale;
}

/** Opens the STEM image with `chipSize`-px chips, embedded per chip (pyCHIP), as the fixtures were. */
async function loadStemImage(page, chipSize) {
  await page.setInputFiles(testid('file-input'), stemImage);
  await page.locator(testid('dataset-shape')).waitFor();
  await page.locator(testid('chip-number')).fill(String(chipSize));
  await page.locator(testid('chip-number')).dispatchEvent('change');
  await selectMode(page, 'per_chip');
}

/** Embeds all chips and returns the downloaded embeddings and the status line. */
async function embed(page, timeout = 300_000) {
  await page.locator(`${testid('embed')}:not([disabled])`).click();
  await page.locator(testid('embedded')).waitFor({ timeout });
  const status = await page.locator(testid('embed-status')).innerText();
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.locator(testid('download-npy')).click(),
  ]);
  const npy = parseNpy(await readFile(await download.path()));
  return { npy, status };
}

function checkRows(label, npy, reference, pairs) {
  for (const [ours, theirs] of pairs) {
    const error = relativeError(row(npy, ours), row(reference, theirs));
    console.log(`  ${label}, chip ${ours}: relative error ${error.toExponential(2)}`);
    assert.ok(error < TOLERANCE, `${label} chip ${ours}: ${error}`);
  }
}

/** WebGPU's autotuned, fused kernels against the CPU path, every chip of the 2 × 2 grid (the
 * WebGPU test runs first; skipped when it did not get this far). */
function checkWebGpuAgainstCpu() {
  for (const [encoder, gpu] of Object.entries(byBackend.webgpu)) {
    const cpu = byBackend.cpu[encoder];
    for (let chip = 0; chip < 4; chip++) {
      const error = relativeError(row(gpu, chip), row(cpu, chip));
      console.log(`  ${encoder}, chip ${chip}: WebGPU against the CPU ${error.toExponential(2)}`);
      assert.ok(error < TOLERANCE, `${encoder} chip ${chip}: WebGPU against the CPU ${error}`);
    }
  }
}

for (const webgpu of [true, false]) {
  const mode = webgpu ? 'WebGPU (SwiftShader)' : 'WebAssembly CPU';

  test(`shipped encoders match PyTorch on a real STEM image: ${mode}`, async (t) => {
    if (!existsSync(stemImage)) return t.skip(`${stemImage} not found; run scripts/fetch-testdata.sh`);
    const resnet = await fixture('resnet50');
    const mobilenet = await fixture('mobilenet_v2');
    await withPage({ webgpu, url: server.url }, async ({ page }) => {
      const backend = page.locator(`${testid('backend')}:not([data-backend="pending"])`);
      await backend.waitFor({ timeout: 60_000 });
      assert.equal(await backend.getAttribute('data-backend'), webgpu ? 'webgpu' : 'cpu');
      if (!webgpu) {
        // The threaded build, with one worker per core the browser reports.
        const cores = await page.evaluate(() => navigator.hardwareConcurrency);
        assert.equal(Number(await backend.getAttribute('data-threads')), cores);
        assert.match(await backend.innerText(), new RegExp(`CPU · ${cores} threads`));
        assert.equal(await page.evaluate(() => crossOriginIsolated), true);
        assert.match(await backend.getAttribute('title'), /Chipscope's kernels in WebAssembly/);
      }

      // 256-px chips: a 2 × 2 grid; the fixture's last case is chip 3 of it.
      await loadStemImage(page, 256);
      await selectEncoder(page, 'resnet50');
      const first = await embed(page);
      assert.deepEqual(first.npy.shape, [4, 2048]);
      assert.match(first.status, /ResNet-50 \(2048-d\)/);
      console.log(`  ${mode}: ${first.status}`);
      checkRows(`ResNet-50 on ${mode}`, first.npy, resnet, [[3, 3]]);
      byBackend[webgpu ? 'webgpu' : 'cpu'].resnet50 = first.npy;

      await selectEncoder(page, 'mobilenet_v2');
      const small = await embed(page);
      checkRows(`MobileNetV2 on ${mode}`, small.npy, mobilenet, [[3, 3]]);
      byBackend[webgpu ? 'webgpu' : 'cpu'].mobilenet_v2 = small.npy;
      if (!webgpu) checkWebGpuAgainstCpu();
      console.log(`  ${mode}: ${small.status}`);
      await screenshot(page, `embedded-${webgpu ? 'webgpu' : 'cpu'}.png`);

      // 64-px chips: an 8 × 8 grid holding the fixture's first three cases (on the CPU only:
      // SwiftShader's emulated GPU needs minutes for 64 chips).
      if (webgpu) return;
      await page.locator(testid('chip-number')).fill('64');
      await page.locator(testid('chip-number')).dispatchEvent('change');
      const many = await embed(page);
      assert.deepEqual(many.npy.shape, [64, 1280]);
      console.log(`  ${mode}: ${many.status}`);
      checkRows(`MobileNetV2 on ${mode}`, many.npy, mobilenet, [[0, 0], [27, 1], [63, 2]]);
    });
  });
}

test('weights are downloaded once with progress, then come from the browser cache', async (t) => {
  if (!existsSync(stemImage)) return t.skip(`${stemImage} not found`);
  const context = await launchBrowser({ webgpu: false });
  try {
    const { page, errors } = await openPage(context, server.url);
    await loadStemImage(page, 512);
    await selectEncoder(page, 'mobilenet_v2');
    await page.locator(`${testid('embed')}:not([disabled])`).click();
    await page.locator(testid('download-progress')).waitFor({ timeout: 30_000 });
    await page.locator(testid('embedded')).waitFor({ timeout: 120_000 });

    // Same browser profile, new visit: the Cache API has the verified file, no download.
    const requests = [];
    context.on('request', (request) => requests.push(request.url()));
    const second = await openPage(context, server.url);
    await loadStemImage(second.page, 512);
    await selectEncoder(second.page, 'mobilenet_v2');
    await second.page.locator(`${testid('embed')}:not([disabled])`).click();
    await second.page.locator(testid('embedded')).waitFor({ timeout: 120_000 });
    const log = await second.page.evaluate(() => caches.open('chipscope-weights-v1').then((c) => c.keys()).then((k) => k.map((r) => r.url)));
    assert.ok(log.some((url) => url.endsWith('/weights/mobilenet_v2.safetensors')), JSON.stringify(log));
    assert.deepEqual(requests.filter((url) => url.endsWith('.safetensors')), []);
    assert.match(await second.page.locator(testid('embed-status')).innerText(), /MobileNetV2/);
    assert.deepEqual([...errors, ...second.errors], []);
  } finally {
    await context.close();
  }
});

test('a run can be cancelled and the page stays responsive while it runs (CPU, thread pool)', async (t) => {
  if (!existsSync(stemImage)) return t.skip(`${stemImage} not found`);
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await loadStemImage(page, 32);
    await selectEncoder(page, 'resnet50');
    await page.locator(`${testid('embed')}:not([disabled])`).click();
    await page.locator(testid('embed-progress')).waitFor({ timeout: 120_000 });
    // The network runs on the pool's workers: the page's own thread only hands out the jobs.
    const gap = await longestGap(page, 3000);
    console.log(`  longest main-thread gap while embedding ResNet-50 on the thread pool: ${gap.toFixed(0)} ms`);
    assert.ok(gap < 100, `the page froze for ${gap} ms`);
    await page.locator(testid('cancel')).click();
    await page.locator(`${testid('embed-status')}:has-text("cancelled after")`).waitFor({ timeout: 30_000 });
    assert.equal(await page.locator(testid('embedded')).count(), 0);
    assert.equal(await page.locator(`${testid('embed')}:not([disabled])`).count(), 1);
  });
});

test('without cross-origin isolation the page runs on one thread, says why, and embeds the same', async (t) => {
  if (!existsSync(stemImage)) return t.skip(`${stemImage} not found`);
  const mobilenet = await fixture('mobilenet_v2');
  await withPage({ webgpu: false, isolation: false, url: server.url }, async ({ page }) => {
    const backend = page.locator(`${testid('backend')}:not([data-backend="pending"])`);
    await backend.waitFor({ timeout: 60_000 });
    assert.equal(await page.evaluate(() => crossOriginIsolated), false);
    assert.equal(await backend.getAttribute('data-threads'), '1');
    assert.match(await backend.innerText(), /CPU · 1 thread/);
    assert.match(await backend.getAttribute('title'), /not cross-origin isolated/);
    await loadStemImage(page, 256);
    await selectEncoder(page, 'mobilenet_v2');
    const { npy, status } = await embed(page);
    checkRows('MobileNetV2 on one thread', npy, mobilenet, [[3, 3]]);
    console.log(`  one thread: ${status}`);
    // On the page's own thread the CPU yields between network stages.
    await page.locator(testid('chip-number')).fill('32');
    await page.locator(testid('chip-number')).dispatchEvent('change');
    await page.locator(`${testid('embed')}:not([disabled])`).click();
    await page.locator(testid('embed-progress')).waitFor({ timeout: 120_000 });
    const gap = await longestGap(page, 2000);
    console.log(`  longest main-thread gap while embedding MobileNetV2 on one thread: ${gap.toFixed(0)} ms`);
    assert.ok(gap < 1000, `the page froze for ${gap} ms`);
    await page.locator(testid('cancel')).click();
  });
});

test("burn's Flex CPU backend (?cpu=flex, kept to compare) embeds as PyTorch does", async (t) => {
  if (!existsSync(stemImage)) return t.skip(`${stemImage} not found`);
  const mobilenet = await fixture('mobilenet_v2');
  await withPage({ webgpu: false, url: `${server.url}?cpu=flex` }, async ({ page }) => {
    const backend = page.locator(`${testid('backend')}:not([data-backend="pending"])`);
    await backend.waitFor({ timeout: 60_000 });
    assert.match(await backend.getAttribute('title'), /^Flex in WebAssembly/);
    await loadStemImage(page, 256);
    await selectEncoder(page, 'mobilenet_v2');
    const { npy, status } = await embed(page);
    checkRows('MobileNetV2 on Flex', npy, mobilenet, [[3, 3]]);
    console.log(`  Flex: ${status}`);
  });
});

test('a user-supplied torchvision .pth (ResNet-50 with a module prefix) embeds like the shipped one', async (t) => {
  if (!existsSync(stemImage) || !existsSync(userWeights)) return t.skip('test data not fetched; run scripts/fetch-testdata.sh');
  const resnet = await fixture('resnet50');
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await loadStemImage(page, 256);
    await page.setInputFiles(testid('weights-input'), userWeights);
    await page.locator(`${testid('embed-status')}:has-text("ResNet-50 weights ready")`).waitFor({ timeout: 60_000 });
    assert.match(await page.locator(`${testid('encoder-select')} option:checked`).innerText(), /imgsim-resnet50\.pth · ResNet-50 · 2048-d/);
    const { npy } = await embed(page);
    // The user's file is the fp32 original of the shipped fp16 weights: close, not identical.
    const error = relativeError(row(npy, 3), row(resnet, 3));
    console.log(`  user .pth vs shipped fp16 reference, chip 3: relative difference ${error.toExponential(2)}`);
    assert.ok(error < 5e-3, `${error}`);

    await page.setInputFiles(testid('weights-input'), join(repoRoot, 'README.md'));
    await page.locator(testid('embed-error')).waitFor();
    assert.match(await page.locator(testid('embed-error')).innerText(), /README\.md: not a weight file/);
  });
});
