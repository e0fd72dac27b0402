// The page's time from the first support click to the first segmentation, dense against per
// chip, on simulated images, in headless Chromium (WebAssembly CPU, and WebGPU unless
// --cpu-only). Run by scripts/bench-web-dense.sh, which builds the site, writes the images and
// puts PyTorch's time for the same dense map beside these figures.
//
//   node tests/bench/web-dense.mjs DIST_DIR IMAGE_DIR [--sizes 512,1024,2048] [--chip 32]
//        [--encoders mobilenet_v2,resnet50] [--cpu-only] [--per-chip-seconds 60]
//
// Dense: the seconds from the first click (which starts the embedding) to the overlay, weights
// already downloaded and the encoder built by a warm-up on IMAGE_DIR/heterostructure_warmup.tif. Per chip: every
// chip would take minutes, so the page embeds for --per-chip-seconds and the time for all chips
// is extrapolated from the chips/s it reports ("~"). Prints one JSON line per measurement.
import { join } from 'node:path';
import { serveStatic, launchBrowser, openPage, testid, setChipSize, selectEncoder, selectMode, clickImageAt } from '../e2e/harness.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};
const [dist, images] = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
const sizes = option('--sizes', '512,1024,2048').split(',').map(Number);
const chip = Number(option('--chip', '32'));
const encoders = option('--encoders', 'mobilenet_v2,resnet50').split(',');
const perChipSeconds = Number(option('--per-chip-seconds', '60'));
const cpuOnly = args.includes('--cpu-only');

/** Opens `heterostructure_NAME.tif` (NAME: its size, or `warmup`) and sets the chip size and the
 * mode. Opening the file on screen again changes nothing (its supports stay). */
async function open(page, name, mode) {
  await page.setInputFiles(testid('file-input'), join(images, `heterostructure_${name}.tif`));
  await page.locator(`${testid('dataset-name')}:has-text("heterostructure_${name}.tif")`).waitFor({ timeout: 120_000 });
  await setChipSize(page, chip);
  await selectMode(page, mode);
}

/** Clicks a support in each of the example's top (vacuum) and middle rows; resolves to the
 * seconds from the first click to the segmentation overlay. */
async function firstSegmentation(page, timeout) {
  // Leave the file and number fields, so the number keys pick the class.
  await page.locator(testid('class-row')).first().locator('.key').click();
  const started = Date.now();
  await page.keyboard.press('1');
  await clickImageAt(page, 0.5, 0.02);
  await page.keyboard.press('2');
  await clickImageAt(page, 0.25, 0.5);
  await page.locator(`${testid('segmentation-overlay')}:not(.hidden)`).waitFor({ timeout });
  return (Date.now() - started) / 1000;
}

/** Chips/s of the per-chip path: embeds for `seconds` (or to the end, if sooner) and cancels. */
async function perChipRate(page, seconds) {
  await page.locator(`${testid('embed')}:not([disabled])`).click();
  await page.locator(testid('embed-rate')).waitFor({ timeout: 300_000 });
  const deadline = Date.now() + seconds * 1000;
  let rate = null;
  while (Date.now() < deadline) {
    const shown = await page.locator(testid('embed-rate')).allInnerTexts();
    if (!shown.length) break; // finished
    rate = Number(shown[0].match(/([\d.]+) chips\/s/)[1]);
    await page.waitForTimeout(1000);
  }
  if (await page.locator(testid('embed-rate')).count()) {
    await page.locator(testid('cancel')).click();
    return rate;
  }
  const status = await page.locator(testid('embed-status')).innerText();
  return Number(status.match(/([\d.]+) chips\/s/)[1]);
}

async function measure(url, webgpu) {
  const context = await launchBrowser({ webgpu });
  const path = webgpu ? 'WebGPU' : 'CPU';
  try {
    const { page } = await openPage(context, url);
    await page.locator(`${testid('backend')}:not([data-backend="pending"])`).waitFor({ timeout: 60_000 });
    for (const encoder of encoders) {
      await selectEncoder(page, encoder);
      await open(page, 'warmup', 'dense');
      await firstSegmentation(page, 900_000); // warm-up: weights, encoder, first map
      for (const size of sizes) {
        await open(page, size, 'dense');
        const seconds = await firstSegmentation(page, 1_800_000);
        const chips = Math.floor(size / chip) ** 2;
        console.log(JSON.stringify({ impl: 'page', path, encoder, size, chip, mode: 'dense', seconds, chips_per_s: chips / seconds }));
        // A fresh page (weights from the browser cache), so nothing of the dense run carries over.
        const { page: fresh } = await openPage(context, url);
        await fresh.locator(`${testid('backend')}:not([data-backend="pending"])`).waitFor({ timeout: 60_000 });
        await selectEncoder(fresh, encoder);
        await open(fresh, size, 'per_chip');
        const rate = await perChipRate(fresh, perChipSeconds);
        await fresh.close();
        console.log(JSON.stringify({ impl: 'page', path, encoder, size, chip, mode: 'per_chip', seconds: chips / rate, chips_per_s: rate, extrapolated: true }));
      }
    }
  } finally {
    await context.close();
  }
}

const server = await serveStatic(dist);
try {
  await measure(`${server.url}?cpu=flex`, false);
  if (!cpuOnly) await measure(server.url, true);
} finally {
  await server.close();
}
