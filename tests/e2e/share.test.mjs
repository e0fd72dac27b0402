// Sessions that travel by link, survive a killed tab, and crowd labelling — in headless
// Chromium on the CPU path: a link opened in a fresh browser gives the identical segmentation
// (its data downloaded from another origin by URL), a local file's link asks for the file and
// checks its sha256, autosave brings the labels back, a labelling task goes out as a link and
// three answers are merged with the votes and Fleiss' kappa of a hand-computed case, and
// tampered links are refused without running anything.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  repoRoot, artifacts, serveStatic, serveFiles, launchBrowser, openPage, withPage, screenshot, testid,
  clickChip, waitForShares,
  downloadTo, freshDir, leaveFields,
} from './harness.mjs';

const testdata = process.env.CHIPSCOPE_TESTDATA ?? join(process.env.HOME, '.cache/chipscope/testdata');
const dm3 = join(testdata, 'hyperspy/dm3_2D_data/multi_signal.dm3');
const outDir = join(artifacts, 'share');
const cli = process.env.CHIPSCOPE_CLI ?? join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), 'debug', 'chipscope');
const otherImage = join(outDir, 'other.tif');
const GRID = 4; // 512 px images, 128 px chips
let app;
let corsData;
let closedData;

before(async () => {
  await freshDir(outDir);
  await writeFile(join(outDir, 'notes.txt'), 'not a micrograph\n');
  execFileSync(cli, ['simulate', '--out', otherImage, '--size', '256', '--seed', '3'], { stdio: 'pipe' });
  const files = { '/multi_signal.dm3': dm3, '/notes.txt': join(outDir, 'notes.txt') };
  app = await serveStatic(join(repoRoot, 'dist'));
  corsData = await serveFiles(files, { cors: true });
  closedData = await serveFiles(files, { cors: false });
});
after(async () => Promise.all([app?.close(), corsData?.close(), closedData?.close()]));

async function waitForBackend(page) {
  await page.locator(`${testid('backend')}:not([data-backend="pending"])`).waitFor({ timeout: 60_000 });
}

/** 128 px chips and MobileNetV2 on the open image. */
async function setUp(page) {
  await page.locator(testid('dataset-shape')).waitFor({ timeout: 60_000 });
  await page.locator(testid('chip-number')).fill('128');
  await page.locator(testid('chip-number')).dispatchEvent('change');
  await page.locator(`${testid('encoder-select')} option[value="mobilenet_v2"]`).waitFor({ state: 'attached' });
  await page.locator(testid('encoder-select')).selectOption('mobilenet_v2');
}

/** Names the two starter classes and clicks `supports` (class index → cells). */
async function label(page, names, supports) {
  for (const [i, name] of names.entries()) {
    await page.locator(testid('class-name')).nth(i).fill(name);
    await page.locator(testid('class-name')).nth(i).dispatchEvent('change');
  }
  await leaveFields(page);
  for (const [i, cells] of supports.entries()) {
    await page.keyboard.press(String(i + 1));
    for (const cell of cells) await clickChip(page, cell, GRID);
  }
}

async function linkFrom(page, button) {
  await page.locator(testid(button)).click();
  return page.locator(testid('share-link')).inputValue();
}

const download = (page, id) => downloadTo(outDir, page, id);

/** The session in a link, and a link made from an edited session (as an attacker would). */
const unpack = (link) => JSON.parse(inflateRawSync(Buffer.from(link.split('#session=1.')[1], 'base64url')));
const pack = (base, session) => `${base}#session=1.${deflateRawSync(Buffer.from(JSON.stringify(session))).toString('base64url')}`;

test('a link opens the identical segmentation in a fresh browser, its data fetched by URL', async () => {
  let link;
  let original;
  await withPage({ webgpu: false, url: `${app.url}?data=${corsData.url}multi_signal.dm3` }, async ({ page }) => {
    await waitForBackend(page);
    await setUp(page);
    assert.equal(await page.locator(testid('dataset-name')).innerText(), 'multi_signal.dm3');
    await label(page, ['vacuum', 'film'], [[[0, 0], [0, 1]], [[2, 2], [3, 1]]]);
    await page.locator(testid('embedded')).waitFor({ timeout: 240_000 });
    original = await waitForShares(page, {});
    link = await linkFrom(page, 'copy-link');
    assert.match(await page.locator(testid('share-link-length')).innerText(), /^\d+ characters$/);
    assert.ok(link.length < 2000, `${link.length} characters`);
    assert.equal(unpack(link).source.kind, 'url');
  });
  await withPage({ webgpu: false, url: link }, async ({ page }) => {
    await page.locator(testid('embedded')).waitFor({ timeout: 240_000 });
    assert.deepEqual(await waitForShares(page, {}), original);
    assert.equal(await page.locator(testid('support-mark')).count(), 4);
    assert.equal(new URL(page.url()).hash, '', 'the link is cleared from the address once read');
  });
});

test('data by URL: CORS refusal, 404 and a wrong format get a message', async () => {
  const context = await launchBrowser({ webgpu: false });
  try {
    const { page, errors } = await openPage(context, app.url);
    const cases = [
      [`${closedData.url}multi_signal.dm3`, /no CORS header/],
      [`${corsData.url}missing.dm3`, /the server answered HTTP 404/],
      [`${corsData.url}notes.txt`, /^notes\.txt: /],
      ['ftp://example.org/a.dm3', /not an http\(s\) address/],
    ];
    for (const [url, message] of cases) {
      await page.locator(testid('url-input')).fill(url);
      await page.locator(testid('open-url')).click();
      await page.locator(testid('error')).filter({ hasText: message }).waitFor();
    }
    assert.equal(await page.locator(testid('dataset-shape')).count(), 0);
    // Chromium itself logs the refused and missing downloads; nothing else may be logged.
    const unexpected = errors.filter((e) => !/CORS policy|Failed to load resource|net::ERR_FAILED/.test(e));
    assert.deepEqual(unexpected, []);
  } finally {
    await context.close();
  }
});

test("a local file's link asks for that file and checks it by sha256", async () => {
  let link;
  await withPage({ webgpu: false, url: app.url }, async ({ page }) => {
    await waitForBackend(page);
    await page.setInputFiles(testid('file-input'), dm3);
    await setUp(page);
    await label(page, ['vacuum', 'film'], [[[0, 0]], [[2, 2], [3, 3]]]);
    link = await linkFrom(page, 'copy-link');
  });
  await withPage({ webgpu: false, url: link }, async ({ page }) => {
    assert.match(await page.locator(testid('need-data')).innerText(), /made on multi_signal\.dm3 .*2 classes, 3 labelled chips/);
    await page.setInputFiles(testid('need-data-input'), otherImage);
    assert.match(await page.locator(testid('other-data')).innerText(), /but the open other\.tif is other data/);
    await page.setInputFiles(testid('file-input'), dm3);
    await page.locator(testid('labels-notice')).filter({ hasText: 'Session opened: 2 classes, 3 supports.' }).waitFor();
    assert.equal(await page.locator(testid('support-mark')).count(), 3);
    assert.deepEqual(await page.locator(testid('class-name')).evaluateAll((inputs) => inputs.map((i) => i.value)), ['vacuum', 'film']);
  });
});

test('autosave: a tab killed mid-labelling loses nothing', async () => {
  const context = await launchBrowser({ webgpu: false });
  try {
    const { page } = await openPage(context, `${app.url}?example`);
    await setUp(page);
    await label(page, ['vacuum', 'film'], [[[0, 0], [1, 0]], [[3, 3]]]);
    await page.close({ runBeforeUnload: false });

    const { page: reopened, errors } = await openPage(context, app.url);
    assert.match(await reopened.locator(testid('resume-offer')).innerText(), /simulated example .*2 classes, 3 labelled chips/);
    await reopened.locator(testid('resume')).click();
    await reopened.locator(testid('labels-notice')).filter({ hasText: 'Session opened: 2 classes, 3 supports.' }).waitFor();
    assert.equal(await reopened.locator(testid('support-mark')).count(), 3);

    // Opening the same data again offers the autosave instead of silently replacing it.
    await reopened.locator(testid('load-example')).click();
    await reopened.locator(testid('autosave-offer')).waitFor();
    await clickChip(reopened, [2, 2], GRID);
    assert.equal(await reopened.locator(testid('support-mark')).count(), 0, 'no labelling before the choice');
    await reopened.locator(testid('restore-autosave')).click();
    await reopened.locator(testid('autosave-offer')).waitFor({ state: 'detached' });
    await reopened.locator(testid('support-mark')).nth(2).waitFor();
    assert.equal(await reopened.locator(testid('support-mark')).count(), 3);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('a labelling task goes out as a link and three answers merge into votes, kappa and consensus', async () => {
  const coordinator = await launchBrowser({ webgpu: false });
  try {
    const { page, errors } = await openPage(coordinator, `${app.url}?example`);
    await setUp(page);
    // Reference chips: the coordinator's own supports, hidden from the labellers.
    await label(page, ['vacuum', 'film'], [[[0, 0]], [[1, 0], [1, 1]]]);
    await page.locator(testid('task-title-input')).fill('Phases of the example');
    await page.locator(testid('task-instructions-input')).fill('Click chips you are sure of. <b>not bold</b>');
    await page.locator(testid('task-asked')).fill('6');
    await page.locator(testid('task-asked')).dispatchEvent('change');
    const taskLink = await linkFrom(page, 'create-task');
    assert.match(taskLink, /#task=1\./);
    const task = JSON.parse(inflateRawSync(Buffer.from(taskLink.split('#task=1.')[1], 'base64url')));
    assert.equal(task.task.reference, undefined, 'reference chips stay with the coordinator');
    assert.deepEqual(task.classes.map((c) => c.supports), [[], []]);
    assert.ok(task.task.chips.length >= 6);

    // Labeller A, in a browser of their own: the focused view, labels, an answer file.
    let answerPath;
    await withPage({ webgpu: false, url: taskLink }, async ({ page: labeller }) => {
      await labeller.locator(testid('task-panel')).waitFor();
      assert.equal(await labeller.locator(testid('task-title')).innerText(), 'Phases of the example');
      assert.equal(await labeller.locator(testid('task-instructions')).innerText(), 'Click chips you are sure of. <b>not bold</b>');
      assert.equal(await labeller.locator(testid('drop-zone')).count(), 0);
      assert.equal(await labeller.locator(testid('results-panel')).count(), 0);
      assert.equal(await labeller.locator(testid('add-class')).count(), 0);
      assert.ok(await labeller.locator(testid('asked-mark')).count() >= 6);
      await label(labeller, [], [[[0, 0], [0, 1], [2, 3]], [[1, 0], [1, 1], [2, 2]]]);
      assert.match(await labeller.locator(testid('task-progress')).innerText(), /of \d+ asked chips labelled \(6 in all\)/);
      await labeller.locator(testid('answer-file')).click();
      await labeller.locator(testid('error')).filter({ hasText: 'Enter your name first' }).waitFor();
      await labeller.locator(testid('labeller-name')).fill('Ada');
      await labeller.locator(testid('labeller-name')).dispatchEvent('change');
      await screenshot(labeller, 'share-labeller.png');
      answerPath = await download(labeller, 'answer-file');
      assert.match(answerPath, /Phases of the example-Ada\.json$/);
      const answerLink = await linkFrom(labeller, 'answer-link');
      assert.equal(unpack(answerLink).task.labeller, 'Ada');
    });

    // B and C answer the same task (written here to make the hand-computed case):
    //   chip    A  B  C    votes (vacuum, film)
    //   [0,0]   v  v  v    3, 0
    //   [0,1]   v  v  f    2, 1
    //   [1,0]   f  f  f    0, 3
    //   [1,1]   f  v  .    1, 1   (tie)
    //   [2,2]   f  .  .    0, 1   (one vote: not in kappa)
    //   [2,3]   v  .  v    2, 0
    // Fleiss' kappa over the 5 chips with two or more votes: P̄ = (1 + 1/3 + 1 + 0 + 1)/5 = 2/3,
    // p = (8/13, 5/13), Pe = 89/169, κ = (2/3 − 89/169)/(1 − 89/169) = 71/240 = 0.296 (and the
    // same per class with two classes). Leave-one-out agreement: A 3/4, B 2/3, C 3/4.
    // Reference: vacuum [0,0], film [1,0], [1,1] → A 3/3, B 2/3, C 2/2.
    const answerA = JSON.parse(await readFile(answerPath, 'utf8'));
    const answer = (name, vacuum, film) => {
      const copy = structuredClone(answerA);
      copy.task.labeller = name;
      copy.classes[0].supports = vacuum;
      copy.classes[1].supports = film;
      return copy;
    };
    const files = [answerPath];
    for (const [name, vacuum, film] of [['Bo', [[0, 0], [0, 1], [1, 1]], [[1, 0]]], ['Cy', [[0, 0], [2, 3]], [[0, 1], [1, 0]]]]) {
      files.push(join(outDir, `${name}.json`));
      await writeFile(files.at(-1), JSON.stringify(answer(name, vacuum, film)));
    }
    await page.setInputFiles(testid('answer-files'), files);
    await page.locator(testid('labeller-row')).nth(2).waitFor();
    const rows = await page.locator(testid('labeller-row')).evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.innerText)));
    assert.deepEqual(rows, [['Ada', '6', '75 %', '3 / 3'], ['Bo', '4', '67 %', '2 / 3'], ['Cy', '4', '75 %', '2 / 2']]);
    assert.equal(
      await page.locator(testid('merge-kappa')).innerText(),
      "Fleiss' kappa 0.296 over 5 chips labelled by two or more; per class: vacuum 0.296, film 0.296.",
    );
    assert.match(await page.locator(testid('merge-votes')).innerText(), /^6 chips have votes; 1 tied\.$/);
    const votes = await readFile(await download(page, 'export-votes'), 'utf8');
    assert.match(votes, /^row,col,votes_vacuum,votes_film,total,majority,agreement\n/);
    assert.match(votes, /\n0,1,2,1,3,vacuum,0\.667\n/);
    assert.match(votes, /\n1,1,1,1,2,,\n/);
    await page.locator(testid('use-consensus')).click();
    assert.deepEqual(await page.locator(testid('support-count')).allInnerTexts(), ['3', '2']);
    await screenshot(page, 'share-merge.png');
    assert.deepEqual(errors, []);
  } finally {
    await coordinator.close();
  }
});

test('tampered, oversized and future links are refused and run no script', async () => {
  await withPage({ webgpu: false, url: `${app.url}?example` }, async ({ page }) => {
    await setUp(page);
    const link = await linkFrom(page, 'copy-link');
    const base = link.split('#')[0];
    const session = unpack(link);
    const hostile = structuredClone(session);
    hostile.classes[0].name = '<img src=x onerror="window.pwned=1">';
    const bomb = `${base}#session=1.${deflateRawSync(Buffer.alloc(4 << 20, 32)).toString('base64url')}`;
    const cases = [
      [`${base}#session=1.${link.split('#session=1.')[1].slice(0, 40)}`, /the link is damaged/],
      [`${base}#session=9.${link.split('#session=1.')[1]}`, /made by a newer Chipscope/],
      [bomb, /unpacks to more than 1 MB/],
      [pack(base, { ...session, version: 99 }), /version 99; this Chipscope reads version 7/],
      [pack(base, { ...session, grid: { chip_size: 2, origin: [0, 0] } }), /chip size 2 px is too small/],
    ];
    for (const [url, message] of cases) {
      await page.goto('about:blank');
      await page.goto(url);
      await page.locator(testid('error')).filter({ hasText: message }).waitFor();
      assert.match(await page.locator(testid('error')).innerText(), /^This link cannot be opened: /);
    }
    await page.goto('about:blank');
    await page.goto(pack(base, hostile));
    await page.locator(testid('labels-notice')).filter({ hasText: 'Session opened' }).waitFor();
    const names = await page.locator(testid('class-name')).evaluateAll((inputs) => inputs.map((i) => i.value));
    assert.equal(names[0], '<img src=x onerror="window.pwned=1">');
    assert.equal(await page.evaluate(() => window.pwned), undefined);
    assert.equal(await page.locator('main img').count(), 0);
  });
});
