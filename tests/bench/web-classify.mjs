// Live classification speed in the page: serves a built site, opens it in headless Chromium and
// calls the page's benchmark hook, the same core timing `chipscope-bench classify` runs natively,
// compiled to WebAssembly. Prints one JSON line like the native and NumPy benchmarks.
// Run by scripts/bench-classify.sh.
//
//   node tests/bench/web-classify.mjs DIST_DIR [--chips 10000] [--dim 2048] [--classes 5] [--supports 5] [--clicks 21]
import { parseArgs } from 'node:util';
import { serveStatic, launchBrowser, openPage } from '../e2e/harness.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: Object.fromEntries(
    ['chips', 'dim', 'classes', 'supports', 'clicks'].map((name) => [name, { type: 'string' }]),
  ),
});
const [dist] = positionals;
if (!dist) {
  console.error('usage: node tests/bench/web-classify.mjs DIST_DIR [--chips N] [--dim N] [--classes N] [--supports N] [--clicks N]');
  process.exit(2);
}
const sizes = {
  chips: Number(values.chips ?? 10000),
  dim: Number(values.dim ?? 2048),
  classes: Number(values.classes ?? 5),
  supports: Number(values.supports ?? 5),
  clicks: Number(values.clicks ?? 21),
};

const server = await serveStatic(dist);
const context = await launchBrowser({ webgpu: false });
try {
  const { page } = await openPage(context, server.url);
  await page.waitForFunction(() => window.chipscopeBench !== undefined, null, { timeout: 60_000 });
  const { first_ms, click_ms } = await page.evaluate(
    ({ chips, dim, classes, supports, clicks }) =>
      window.chipscopeBench.classify(chips, dim, classes, supports, clicks),
    sizes,
  );
  const { clicks, ...fields } = sizes;
  console.log(JSON.stringify({ impl: 'chipscope-wasm', ...fields, first_ms, click_ms }));
} finally {
  await context.close();
  await server.close();
}
