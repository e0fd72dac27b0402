// The page's memory on a large image in dense mode: opens IMAGE in headless Chromium (CPU),
// segments it with the default encoder (MobileNetV2, dense) and the fine view, and prints the
// WebAssembly memory (which never shrinks, so its size is the peak) and the JS heap; then asks
// for ResNet-50 dense, whose map the page refuses before any work, and prints the message.
// Run by scripts/bench-web-dense.sh --memory.
//
//   node tests/bench/web-dense-memory.mjs DIST_DIR IMAGE
import { serveStatic, launchBrowser, openPage, testid, selectEncoder, clickImageAt } from '../e2e/harness.mjs';

const [dist, image] = process.argv.slice(2);
const server = await serveStatic(dist);
const context = await launchBrowser({ webgpu: false });
const megabytes = (bytes) => (bytes / 2 ** 20).toFixed(0);
try {
  await context.addInitScript(() => {
    addEventListener('TrunkApplicationStarted', (event) => { window.chipscopeWasm = event.detail.wasm; });
  });
  const { page } = await openPage(context, `${server.url}?cpu=flex`);
  await page.locator(`${testid('backend')}:not([data-backend="pending"])`).waitFor({ timeout: 60_000 });
  const memory = () => page.evaluate(() => ({
    wasm: window.chipscopeWasm.memory.buffer.byteLength,
    heap: performance.memory.usedJSHeapSize,
  }));
  const before = await memory();
  await page.setInputFiles(testid('file-input'), image);
  await page.locator(testid('dataset-shape')).waitFor({ timeout: 300_000 });
  const shape = await page.locator(testid('dataset-shape')).innerText();
  await page.locator(testid('class-row')).first().locator('.key').click(); // leave the fields
  const started = Date.now();
  await page.keyboard.press('1');
  await clickImageAt(page, 0.5, 0.02);
  await page.keyboard.press('2');
  await clickImageAt(page, 0.25, 0.5);
  await page.locator(`${testid('segmentation-overlay')}:not(.hidden)`).waitFor({ timeout: 1_800_000 });
  const seconds = (Date.now() - started) / 1000;
  await page.locator(testid('view-mode')).selectOption('fine');
  await page.locator(testid('fine-shares')).waitFor({ timeout: 300_000 });
  const after = await memory();
  const status = await page.locator(testid('embed-status')).innerText();
  console.log(`${shape}, MobileNetV2 dense + fine view: first segmentation in ${seconds.toFixed(1)} s`);
  console.log(`  ${status}`);
  console.log(`  WebAssembly memory ${megabytes(before.wasm)} MiB at start, ${megabytes(after.wasm)} MiB peak; JS heap ${megabytes(after.heap)} MiB`);
  await selectEncoder(page, 'resnet50');
  await page.locator(`${testid('embed')}:not([disabled])`).click();
  const refusal = await page.locator(testid('embed-error')).innerText({ timeout: 300_000 });
  console.log(`ResNet-50 dense: ${refusal}`);
  console.log(`  WebAssembly memory after the refusal: ${megabytes((await memory()).wasm)} MiB`);
} finally {
  await context.close();
  await server.close();
}
