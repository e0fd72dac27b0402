// What a microscopist does on the page, in real headless Chromium: the page loads and reports its
// compute backend (WebGPU through SwiftShader with the flag, the CPU fallback without), a 16-bit
// TIFF made by the CLI loads with its calibration, the chip grid follows the slider and number
// field, damaged files give a message, and the example loads in one click.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot, artifacts, serveStatic, withPage, openPage, screenshot } from './harness.mjs';

const cli = process.env.CHIPSCOPE_CLI ?? join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), 'debug', 'chipscope');
const tiff16 = join(artifacts, 'simulated-300px-16bit.tif');
const truncated = join(artifacts, 'truncated.tif');
let server;

before(async () => {
  await mkdir(artifacts, { recursive: true });
  execFileSync(cli, ['simulate', '--size', '300', '--seed', '4', '--out', tiff16]);
  const bytes = await readFile(tiff16);
  await writeFile(truncated, bytes.subarray(0, bytes.length / 3));
  server = await serveStatic(join(repoRoot, 'dist'));
});

after(async () => server?.close());

const testid = (id) => `[data-testid="${id}"]`;

/** Waits until the element's text matches `pattern` (the page updates asynchronously). */
async function expectText(page, id, pattern, timeout = 15_000) {
  const locator = page.locator(testid(id));
  const deadline = Date.now() + timeout;
  let text = '';
  while (Date.now() < deadline) {
    text = (await locator.count()) ? await locator.first().innerText() : '';
    if (pattern.test(text)) return text;
    await page.waitForTimeout(50);
  }
  assert.match(text, pattern, `${id} after ${timeout} ms`);
}

async function backendOf(page) {
  const badge = page.locator(`${testid('backend')}:not([data-backend="pending"])`);
  await badge.waitFor({ timeout: 60_000 });
  return { kind: await badge.getAttribute('data-backend'), text: await badge.innerText() };
}

for (const webgpu of [true, false]) {
  const mode = webgpu ? 'WebGPU (SwiftShader)' : 'CPU fallback (no WebGPU flag)';

  test(`page loads without console errors and reports its backend: ${mode}`, async () => {
    await withPage({ webgpu, url: server.url }, async ({ page }) => {
      const backend = await backendOf(page);
      assert.equal(backend.kind, webgpu ? 'webgpu' : 'cpu', backend.text);
      assert.match(backend.text, webgpu ? /Compute: WebGPU/ : /Compute: CPU/);
      await screenshot(page, `start-${webgpu ? 'webgpu' : 'cpu'}.png`);
    });
  });
}

test('a 16-bit TIFF upload shows its calibration and a grid that follows the slider', async () => {
  await withPage({ webgpu: true, url: server.url }, async ({ page }) => {
    await page.setInputFiles(testid('file-input'), tiff16);
    await page.locator(testid('dataset-shape')).waitFor();
    assert.equal(await page.locator(testid('dataset-shape')).innerText(), '300 × 300 px');
    assert.match(await page.locator(testid('dataset-format')).innerText(), /TIFF \(16-bit unsigned integer, grey\)/);
    assert.match(await page.locator(testid('dataset-calibration')).innerText(), /^0\.04 nm\/px; field of view 12 × 12 nm/);

    // Default for 300 px: 16 px chips, 18 × 18.
    assert.equal(await page.locator(testid('chip-count')).innerText(), '324');
    await page.locator(testid('chip-slider')).fill('50');
    assert.equal(await page.locator(testid('chip-count')).innerText(), '36');
    assert.equal(await page.locator(testid('grid-layout')).innerText(), '6 rows × 6 columns');
    assert.equal(await page.locator(testid('grid-cropped')).innerText(), '0 px cropped (0.0 %)');
    await page.locator(testid('chip-slider')).fill('64');
    assert.equal(await page.locator(testid('chip-count')).innerText(), '16');
    assert.equal(await page.locator(testid('grid-layout')).innerText(), '4 rows × 4 columns');
    assert.equal(await page.locator(testid('grid-cropped')).innerText(), '24464 px cropped (27.2 %)');
    await page.locator(testid('chip-number')).fill('8');
    await page.locator(testid('chip-number')).press('Enter');
    assert.equal(await page.locator(testid('chip-count')).innerText(), String(37 * 37));
    await page.locator(testid('chip-number')).fill('1000');
    await page.locator(testid('chip-number')).press('Enter');
    assert.equal(await page.locator(testid('chip-count')).innerText(), '1', 'chip size clamps to the shorter side');
    await page.locator(testid('chip-slider')).fill('37');
    const lines = await page.locator(`${testid('grid-overlay')} path.grid-lines`).getAttribute('d');
    assert.equal((lines.match(/M/g) ?? []).length, 2 * (8 + 1), 'one line per chip border');
    await screenshot(page, 'tiff-grid.png');
  });
});

test('a real Gatan DM3 file opens with its calibration and acquisition facts', async (t) => {
  const dm3 = join(process.env.CHIPSCOPE_TESTDATA ?? join(process.env.HOME, '.cache/chipscope/testdata'), 'hyperspy/dm3_2D_data/multi_signal.dm3');
  if (!existsSync(dm3)) return t.skip(`${dm3} not found; run scripts/fetch-testdata.sh`);
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await page.setInputFiles(testid('file-input'), dm3);
    await expectText(page, 'dataset-name', /^multi_signal\.dm3$/);
    assert.equal(await page.locator(testid('dataset-format')).innerText(), 'DigitalMicrograph (16-bit unsigned integer, grey)');
    assert.equal(await page.locator(testid('dataset-shape')).innerText(), '512 × 512 px');
    assert.equal(await page.locator(testid('dataset-calibration')).innerText(), '0.01775 nm/px; field of view 9.089 × 9.089 nm');
    assert.match(await page.locator(testid('dataset-acquisition')).innerText(), /^acceleration voltage 300 kV; /);
    assert.equal(await page.locator(testid('chip-count')).innerText(), '256');
    await screenshot(page, 'dm3.png');
  });
});

test('a damaged or wrong file gives a clear message and keeps the page working', async () => {
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await page.setInputFiles(testid('file-input'), truncated);
    await expectText(page, 'error', /^truncated\.tif: the TIFF file is damaged or truncated \(the file ends early\)$/);
    await page.setInputFiles(testid('file-input'), { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not an image') });
    await expectText(page, 'error', /^notes\.png: this is not a file Chipscope can read: its content matches none of PNG, JPEG, TIFF, DigitalMicrograph, Berkeley EMD, FEI TIA, JEOL IMG, MRC, Velox EMD, Bruker BCF or JEOL PTS$/);
    await page.setInputFiles(testid('file-input'), { name: 'empty.tif', mimeType: 'image/tiff', buffer: Buffer.alloc(0) });
    await expectText(page, 'error', /^empty\.tif: the file is empty \(0 bytes\)$/);
    await page.setInputFiles(testid('file-input'), tiff16);
    await page.locator(testid('dataset-shape')).waitFor();
    assert.equal(await page.locator(testid('error')).count(), 0);
  });
});

/** A TIFF header declaring a `width × height` 8-bit image with no pixel data behind it. */
function tiffHeaderOnly(width, height) {
  const entries = [[256, 4, width], [257, 4, height], [258, 3, 8], [259, 3, 1], [262, 3, 1], [273, 4, 8], [278, 4, height], [279, 4, Math.min(width * height, 2 ** 32 - 1)]];
  const bytes = Buffer.alloc(8 + 2 + 12 * entries.length + 4);
  bytes.write('II*\0', 0, 'latin1');
  bytes.writeUInt32LE(8, 4);
  bytes.writeUInt16LE(entries.length, 8);
  entries.forEach(([tag, type, value], i) => {
    const at = 10 + 12 * i;
    bytes.writeUInt16LE(tag, at);
    bytes.writeUInt16LE(type, at + 2);
    bytes.writeUInt32LE(1, at + 4);
    bytes.writeUInt32LE(value, at + 8);
  });
  return bytes;
}

test('drag and drop opens a file; an image too large for memory is refused with a message', async () => {
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    const drop = async (name, bytes) => {
      const dataTransfer = await page.evaluateHandle(({ name, data }) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], name, { type: 'image/tiff' }));
        return transfer;
      }, { name, data: bytes.toString('base64') });
      await page.dispatchEvent(testid('drop-zone'), 'dragover', { dataTransfer });
      await page.dispatchEvent(testid('drop-zone'), 'drop', { dataTransfer });
    };
    await drop('dropped.tif', await readFile(tiff16));
    await expectText(page, 'dataset-name', /^dropped\.tif$/);
    assert.equal(await page.locator(testid('chip-count')).innerText(), '324');
    await drop('huge.tif', tiffHeaderOnly(50_000, 50_000));
    await expectText(page, 'error', /^huge\.tif: the image is 50000 × 50000 pixels, more than the 67 megapixels Chipscope can hold in memory; crop or bin it first$/);
    assert.equal(await page.locator(testid('dataset-name')).innerText(), 'dropped.tif', 'the loaded image stays');
  });
});

test('the example is one click away, and preloaded with ?example', async () => {
  await withPage({ webgpu: false, url: server.url }, async ({ page, context }) => {
    await page.locator(testid('load-example')).click();
    await page.locator(testid('dataset-name')).waitFor();
    assert.match(await page.locator(testid('dataset-name')).innerText(), /simulated heterostructure/);
    assert.equal(await page.locator(testid('chip-count')).innerText(), '256');
    const preloaded = await openPage(context, `${server.url}?example`);
    await preloaded.page.locator(testid('dataset-name')).waitFor();
    assert.equal(await preloaded.page.locator(testid('chip-count')).innerText(), '256');
    await preloaded.page.locator(testid('contrast-mode')).selectOption('minmax');
    assert.match(await preloaded.page.locator(testid('display-range')).innerText(), /black = \d+, white = \d+/);
    await screenshot(preloaded.page, 'example.png');
    assert.deepEqual(preloaded.errors, []);
  });
});
