// In-browser embedding speed: serves each built site given on the command line, opens it in
// headless Chromium on the WebAssembly CPU paths (?cpu=kernels, Chipscope's own kernels, the
// default; ?cpu=flex and ?cpu=ndarray, burn's backends) and on WebGPU
// (SwiftShader here; a real GPU elsewhere), embeds the chips of a real STEM image and prints
// chips/s as the page reports them, with the CPU threads the page used. Run by
// scripts/bench-web.sh.
//
//   node tests/bench/web-encoders.mjs [--cpu-only | --webgpu-only] [--cpu=kernels,flex,ndarray]
//        [--mobilenet-only] [--chip-size=N] LABEL=DIST_DIR[@QUERY] …
// (--cpu-only skips WebGPU, which SwiftShader emulates slowly on machines without a GPU;
// --webgpu-only skips the CPU paths; --cpu= lists the CPU paths to time; --mobilenet-only
// skips ResNet-50; --chip-size sets both encoders' chips, e.g. 32 for the 256 chips a real GPU
// needs to be busy; QUERY is added to the address, e.g. threads=1)
import { join } from 'node:path';
import { serveStatic, launchBrowser, openPage, selectMode } from '../e2e/harness.mjs';

const testdata = process.env.CHIPSCOPE_TESTDATA ?? join(process.env.HOME, '.cache/chipscope/testdata');
const image = join(testdata, 'hyperspy/dm3_2D_data/multi_signal.dm3');
const testid = (id) => `[data-testid="${id}"]`;
/** Chip size per encoder: 16 chips of 128 px for ResNet-50, 64 chips of 64 px for MobileNetV2. */
const chipOption = process.argv.find((a) => a.startsWith('--chip-size='));
const runs = [['resnet50', 128], ['mobilenet_v2', 64]]
  .filter(([encoder]) => !process.argv.includes('--mobilenet-only') || encoder === 'mobilenet_v2')
  .map(([encoder, chip]) => [encoder, chipOption ? Number(chipOption.split('=')[1]) : chip]);

async function measure(url, { webgpu }) {
  const context = await launchBrowser({ webgpu });
  const figures = {};
  try {
    const { page } = await openPage(context, url);
    const badge = page.locator(`${testid('backend')}:not([data-backend="pending"])`);
    await badge.waitFor({ timeout: 60_000 });
    figures.threads = Number(await badge.getAttribute('data-threads'));
    figures.backend = await badge.getAttribute('title');
    await page.setInputFiles(testid('file-input'), image);
    await page.locator(testid('dataset-shape')).waitFor();
    // pyCHIP: every chip resized to 224² and run through the whole network.
    if (await page.locator(testid('embed-mode')).count()) await selectMode(page, 'per_chip');
    for (const [encoder, chip] of runs) {
      await page.locator(testid('chip-number')).fill(String(chip));
      await page.locator(testid('chip-number')).dispatchEvent('change');
      await page.locator(`${testid('encoder-select')} option[value="${encoder}"]`).waitFor({ state: 'attached' });
      await page.locator(testid('encoder-select')).selectOption(encoder);
      // Warm-up: download and build the encoder (one cancelled run), then the timed run.
      await page.locator(`${testid('embed')}:not([disabled])`).click();
      await page.locator(testid('embed-progress')).waitFor({ timeout: 300_000 });
      await page.locator(testid('cancel')).click();
      await page.locator(`${testid('embed')}:not([disabled])`).click();
      await page.locator(testid('embedded')).waitFor({ timeout: 900_000 });
      const status = await page.locator(testid('embed-status')).innerText();
      figures[encoder] = Number(status.match(/([\d.]+) chips\/s/)[1]);
    }
  } finally {
    await context.close();
  }
  return figures;
}

const flags = ['--cpu-only', '--webgpu-only', '--mobilenet-only'];
const cpuOption = process.argv.find((a) => a.startsWith('--cpu='));
const cpuOnly = process.argv.includes('--cpu-only');
const cpus = process.argv.includes('--webgpu-only') ? []
  : (cpuOption ? cpuOption.slice('--cpu='.length) : 'kernels,flex,ndarray').split(',');
const rows = [];
for (const argument of process.argv.slice(2).filter((a) => !flags.includes(a) && a !== chipOption && a !== cpuOption)) {
  const split = argument.indexOf('=');
  const [label, target] = [argument.slice(0, split), argument.slice(split + 1)];
  const [dist, query] = target.split('@');
  const server = await serveStatic(dist);
  const address = (cpu) => `${server.url}?${[cpu && `cpu=${cpu}`, query].filter(Boolean).join('&')}`;
  try {
    for (const cpu of cpus) {
      rows.push({ build: label, path: `CPU (${cpu})`, ...(await measure(address(cpu), { webgpu: false })) });
    }
    if (!cpuOnly) rows.push({ build: label, path: 'WebGPU', ...(await measure(address(), { webgpu: true })) });
  } finally {
    await server.close();
  }
}
console.log(`\nchips/s in headless Chromium (${runs.map(([e, c]) => `${e}: ${c}-px chips of the 512² image`).join('; ')})`);
console.log(`${'build'.padEnd(20)}${'path'.padEnd(16)}${'threads'.padStart(8)}${'ResNet-50'.padStart(10)}${'MobileNetV2'.padStart(13)}`);
for (const row of rows) {
  const cell = (value) => (value === undefined ? '-' : value.toFixed(2));
  console.log(`${row.build.padEnd(20)}${row.path.padEnd(16)}${String(row.threads).padStart(8)}${cell(row.resnet50).padStart(10)}${cell(row.mobilenet_v2).padStart(13)}`);
  console.log(JSON.stringify({ impl: 'page', ...row }));
}
