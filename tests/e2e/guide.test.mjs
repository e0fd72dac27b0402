// Labelling that guides itself, as a newcomer uses it on the example micrograph (written as a
// TIFF by `chipscope simulate`, so that `chipscope segment` knows it for the labelled image;
// dense MobileNetV2, 32-px chips, 16 × 16): classes proposed by clustering before any label, each named cluster becoming
// a class with supports (one undoable edit); the suggested next chips outlined, N leading to
// them and X skipping one; the supports' leave-one-out check flagging a deliberately wrong click,
// its Show button leading the eye to it, in the summary JSON of the page and of
// `chipscope segment`; and painting supports: a stroke adds its chips in one edit, Shift erases,
// Ctrl draws a rectangle, and at 400 % zoom after a pan a click picks the chip under the pointer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  repoRoot, artifacts, serveStatic, withPage, screenshot, testid, waitForShares, downloadTo, freshDir,
  clickChip, classesOf, leaveFields,
} from './harness.mjs';

const cli = process.env.CHIPSCOPE_CLI ?? join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), 'debug', 'chipscope');
const outDir = join(artifacts, 'guide');
const tiff = join(outDir, 'example.tif');
const GRID = 16;
let server;

before(async () => {
  await freshDir(outDir);
  execFileSync(cli, ['simulate', '--size', '512', '--seed', '1', '--out', tiff], { stdio: 'pipe' });
  server = await serveStatic(join(repoRoot, 'dist'));
});
after(async () => server?.close());

async function openExample(page) {
  await page.setInputFiles(testid('file-input'), tiff);
  await page.locator(testid('dataset-shape')).waitFor({ timeout: 60_000 });
}

/** The cells ("row,col") of the suggested chips, best first. */
async function suggestedCells(page) {
  const marks = page.locator(testid('suggested-mark'));
  const cells = [];
  for (let i = 0; i < (await marks.count()); i++) cells.push(await marks.nth(i).getAttribute('data-cell'));
  return cells;
}

/** Waits for the chip in focus to be `cell` ("row,col"). */
async function focusOn(page, cell) {
  await page.locator(`${testid('focus-mark')}[data-cell="${cell}"]`).waitFor();
}

test('a newcomer names proposed clusters, follows the suggestions, and the supports check flags a wrong click', async () => {
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await openExample(page);

    // Four clusters proposed before any label; each named becomes a class with three supports.
    await page.locator(testid('proposal-k')).fill('4');
    await page.locator(testid('proposal-k')).dispatchEvent('change');
    // The embedding it needs shows its progress beside the classes, with Cancel.
    const progress = page.waitForSelector(testid('labelling-progress'), { timeout: 60_000 });
    await page.locator(testid('propose')).click();
    await progress;
    await page.locator(testid('cluster-row')).first().waitFor({ timeout: 240_000 });
    assert.equal(await page.locator(testid('cluster-row')).count(), 4);
    assert.match(await page.locator(testid('proposal-summary')).innerText(), /^4 clusters\./);
    await screenshot(page, 'guide-proposal.png');
    for (const name of ['region A', 'region B', 'region C', 'region D']) {
      await page.locator(testid('cluster-name')).first().fill(name);
      await page.locator(testid('name-cluster')).first().click();
    }
    assert.equal(await page.locator(testid('cluster-row')).count(), 0);
    assert.deepEqual(await page.locator(testid('support-count')).allInnerTexts(), ['3', '3', '3', '3']);
    const counts = await waitForShares(page, {});
    assert.equal(Object.keys(counts).length, 4, JSON.stringify(counts));
    for (const [name, chips] of Object.entries(counts)) assert.ok(chips >= 16, `${name}: ${chips} chips`);

    // Naming a cluster is one edit: one Ctrl+Z takes the fourth class away, Ctrl+Shift+Z brings it back.
    await leaveFields(page);
    await page.keyboard.press('Control+z');
    await page.locator(testid('class-name')).nth(3).waitFor({ state: 'detached' });
    await page.keyboard.press('Control+Shift+z');
    await page.locator(testid('class-name')).nth(3).waitFor();

    // Five suggestions outlined; N leads to the first, then the second; X skips the one in focus.
    await page.locator(testid('suggested-mark')).nth(4).waitFor();
    const suggested = await suggestedCells(page);
    assert.equal(suggested.length, 5);
    await page.keyboard.press('n');
    await focusOn(page, suggested[0]);
    assert.match(await page.locator(testid('suggestion-about')).innerText(), /^Suggestion 1 of 5: chip \[\d+, \d+\], typical of chips/);
    await page.keyboard.press('n');
    await focusOn(page, suggested[1]);
    await screenshot(page, 'guide-suggestions.png');
    await page.keyboard.press('x');
    await focusOn(page, suggested[2]);
    await page.waitForFunction(
      ([id, skipped]) => ![...document.querySelectorAll(`[data-testid="${id}"]`)].some((m) => m.dataset.cell === skipped),
      ['suggested-mark', suggested[1]],
    );
    // Labelling the suggestion in focus (class 1) makes it a support, no longer suggested.
    await page.keyboard.press('1');
    const [row, col] = suggested[2].split(',').map(Number);
    await clickChip(page, [row, col], GRID);
    await page.waitForFunction(
      ([id, labelled]) => ![...document.querySelectorAll(`[data-testid="${id}"]`)].some((m) => m.dataset.cell === labelled),
      ['suggested-mark', suggested[2]],
    );
    assert.match(await page.locator(testid('support-score')).innerText(), /^Leave-one-out: \d+ of 13 supports/);

    // A deliberate wrong click: a chip of the bottom row's class given to the top row's class.
    const classes = classesOf(await readFile(await downloadTo(outDir, page, 'export-csv'), 'utf8'));
    const top = classes['0,8'];
    const wrong = [15, 8];
    assert.notEqual(classes[wrong.join(',')], top, 'the top and bottom rows differ');
    const names = await page.locator(testid('class-name')).evaluateAll((inputs) => inputs.map((i) => i.value));
    await page.keyboard.press(String(names.indexOf(top) + 1));
    await clickChip(page, wrong, GRID);
    const flagged = page.locator(testid('flagged-support'));
    await flagged.first().waitFor();
    const texts = await flagged.allInnerTexts();
    const ours = texts.findIndex((t) => t.startsWith(`Chip [15, 8], clicked as ${top}, looks like`));
    assert.ok(ours >= 0, texts.join(' | '));
    // At 400 % the bottom row is out of sight: Show pans to the flagged chip, N to a suggestion.
    await leaveFields(page);
    await page.keyboard.press('+');
    await page.keyboard.press('+');
    assert.equal(await page.locator(testid('zoom-level')).innerText(), '400 %');
    await flagged.nth(ours).locator(testid('show-flagged')).click();
    await focusOn(page, '15,8');
    await focusInSight(page);
    await screenshot(page, 'guide-flagged.png');
    await page.keyboard.press('n');
    await page.waitForFunction(() => document.querySelector('[data-testid="focus-mark"]')?.dataset.cell !== '15,8');
    await focusInSight(page);
    await page.keyboard.press('f');
    await page.locator(testid('zoom-level')).waitFor({ state: 'detached' });

    const summary = JSON.parse(await readFile(await downloadTo(outDir, page, 'export-summary'), 'utf8'));
    assert.ok(summary.supports.flagged.some((f) => f.cell.join(',') === '15,8' && f.class === top), JSON.stringify(summary.supports));
    assert.equal(summary.supports.classes.length, 4);

    // The CLI's summary of the labelled image checks the same supports.
    const session = await downloadTo(outDir, page, 'export-session');
    const out = join(outDir, 'cli');
    const printed = execFileSync(cli, ['segment', tiff, '--session', session, '--out', out], { encoding: 'utf8' });
    assert.match(printed, /supports: \d+\/\d+ right by leave-one-out .*check .*\[15, 8\]/);
    const fromCli = JSON.parse(await readFile(join(out, 'example-summary.json'), 'utf8'));
    assert.deepEqual(fromCli.supports.flagged.map((f) => f.cell.join(',')).includes('15,8'), true);
  });
});

test('a proposal travels in the session and comes back with it', async () => {
  let session;
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await openExample(page);
    await page.locator(testid('propose')).click();
    await page.locator(testid('cluster-row')).first().waitFor({ timeout: 240_000 });
    const summary = await page.locator(testid('proposal-summary')).innerText();
    assert.match(summary, /clusters, the number the silhouette suggests/);
    session = await downloadTo(outDir, page, 'export-session');
    const saved = JSON.parse(await readFile(session, 'utf8'));
    assert.equal(saved.proposal.seed, 1);
    assert.equal(await page.locator(testid('cluster-row')).count(), saved.proposal.k);
  });
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await openExample(page);
    await page.setInputFiles(testid('session-input'), session);
    await page.locator(testid('cluster-row')).first().waitFor({ timeout: 240_000 });
    const saved = JSON.parse(await readFile(session, 'utf8'));
    assert.equal(await page.locator(testid('cluster-row')).count(), saved.proposal.k);
    assert.match(await page.locator(testid('proposal-summary')).innerText(), new RegExp(`^${saved.proposal.k} clusters\\.`));
  });
});

/** Waits until the middle of the chip in focus is on screen inside the viewer. */
async function focusInSight(page) {
  await page.waitForFunction(() => {
    const mark = document.querySelector('[data-testid="focus-mark"]')?.getBoundingClientRect();
    const viewer = document.querySelector('[data-testid="viewer"]').getBoundingClientRect();
    if (!mark) return false;
    const [x, y] = [mark.left + mark.width / 2, mark.top + mark.height / 2];
    return x > viewer.left && x < viewer.right && y > viewer.top && y < viewer.bottom;
  }, null, { timeout: 10_000 });
}

/** Where chip [row, col] of the `GRID`² grid is on screen, in the overlay's (zoomed) box. */
function centreOf(box, [row, col]) {
  return { x: box.x + ((col + 0.5) / GRID) * box.width, y: box.y + ((row + 0.5) / GRID) * box.height };
}

/** Presses the mouse on chip `from`, moves through `through`, and releases. */
async function drag(page, box, from, through) {
  const start = centreOf(box, from);
  await page.mouse.move(start.x, start.y);
  await page.mouse.down();
  for (const cell of through) {
    const point = centreOf(box, cell);
    await page.mouse.move(point.x, point.y, { steps: 4 });
  }
  await page.mouse.up();
}

/** The supports' cells, sorted. */
async function supportCells(page) {
  const cells = await page.locator(testid('support-mark')).evaluateAll((marks) => marks.map((m) => m.dataset.cell));
  return cells.sort();
}

test('a stroke paints its chips in one edit, Shift erases, Ctrl draws a rectangle, and a click at 400 % after a pan picks the chip under it', async () => {
  await withPage({ webgpu: false, url: server.url }, async ({ page }) => {
    await openExample(page);
    await leaveFields(page);
    const overlay = page.locator(testid('grid-overlay'));
    const box = await overlay.boundingBox();
    await drag(page, box, [2, 2], [[2, 3], [2, 4], [2, 5], [2, 6]]);
    const row2 = ['2,2', '2,3', '2,4', '2,5', '2,6'];
    assert.deepEqual(await supportCells(page), row2);
    await page.keyboard.press('Control+z');
    await page.locator(testid('support-mark')).first().waitFor({ state: 'detached' });
    await page.keyboard.press('Control+Shift+z');
    assert.deepEqual(await supportCells(page), row2);

    await page.keyboard.down('Shift');
    await drag(page, box, [2, 3], [[2, 4], [2, 5]]);
    await page.keyboard.up('Shift');
    assert.deepEqual(await supportCells(page), ['2,2', '2,6']);

    await page.keyboard.press('2');
    await page.keyboard.down('Control');
    await drag(page, box, [8, 8], [[9, 9], [10, 10]]);
    await page.keyboard.up('Control');
    const cells = await supportCells(page);
    assert.equal(cells.length, 11, cells.join(' '));
    assert.deepEqual(await page.locator(testid('support-count')).allInnerTexts(), ['2', '9']);

    // 400 %: + twice; then a pan with the middle button; a click picks the chip under it.
    await page.keyboard.press('+');
    await page.keyboard.press('+');
    assert.equal(await page.locator(testid('zoom-level')).innerText(), '400 %');
    const viewer = await page.locator(testid('viewer')).boundingBox();
    const middle = { x: viewer.x + viewer.width / 2, y: viewer.y + viewer.height / 2 };
    await page.mouse.move(middle.x, middle.y);
    await page.mouse.down({ button: 'middle' });
    await page.mouse.move(middle.x + viewer.width / 5, middle.y + viewer.height / 7, { steps: 5 });
    await page.mouse.up({ button: 'middle' });
    const zoomed = await overlay.boundingBox();
    assert.ok(Math.abs(zoomed.width - 4 * box.width) < 1, `${zoomed.width} vs 4 × ${box.width}`);
    const target = { x: viewer.x + viewer.width * 0.3, y: viewer.y + viewer.height * 0.6 };
    const expected = [
      Math.floor(((target.y - zoomed.y) / zoomed.height) * GRID),
      Math.floor(((target.x - zoomed.x) / zoomed.width) * GRID),
    ];
    assert.notDeepEqual(expected, [Math.floor(0.6 * GRID), Math.floor(0.3 * GRID)], 'the pan moved the image');
    await page.keyboard.press('1');
    await page.mouse.click(target.x, target.y);
    await page.locator(`${testid('support-mark')}[data-cell="${expected.join(',')}"]`).waitFor();
    await screenshot(page, 'guide-zoomed.png');
    await page.locator(testid('zoom-fit')).click();
    await page.locator(testid('zoom-level')).waitFor({ state: 'detached' });
  });
});
