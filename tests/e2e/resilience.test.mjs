// The page's resilience and its own defences, in headless Chromium: an internal error (a panic,
// which ends the WebAssembly instance) is shown with a Reload button that brings the labels
// back, on the CPU when the panic came from WebGPU (SwiftShader's adapter); a tab killed at
// random moments while labelling — crashed or closed without unload, at least 20 times — never
// loses a support clicked before the kill; and the built page carries a Content-Security-Policy
// that leaves no inline script running.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  repoRoot, serveStatic, launchBrowser, openPage, screenshot, testid, clickChip,
} from './harness.mjs';

const GRID = 8; // the 512 px example in 64 px chips
const KILLS = 24;
const SEED = Number(process.env.CHIPSCOPE_KILL_SEED ?? 18);
let app;

before(async () => { app = await serveStatic(join(repoRoot, 'dist')); });
after(async () => app?.close());

/** 64 px chips, once the encoder list is in (before it the session is incomplete and not saved). */
async function setUp(page) {
  await page.locator(testid('dataset-shape')).waitFor({ timeout: 60_000 });
  await page.locator(testid('chip-number')).fill(String(512 / GRID));
  await page.locator(testid('chip-number')).dispatchEvent('change');
  await page.locator(`${testid('encoder-select')} option[value="mobilenet_v2"]`).waitFor({ state: 'attached' });
}

/** Makes class `index` the active one (which also leaves any text field). */
const pickClass = (page, index) => page.locator(testid('class-row')).nth(index).locator('.key').click();

/** Names the two starter classes and clicks `supports` (class index → cells). */
async function label(page, names, supports) {
  for (const [i, name] of names.entries()) {
    await page.locator(testid('class-name')).nth(i).fill(name);
    await page.locator(testid('class-name')).nth(i).dispatchEvent('change');
  }
  for (const [i, cells] of supports.entries()) {
    await pickClass(page, i);
    for (const cell of cells) await clickChip(page, cell, GRID);
  }
}

/** The supports on screen, as sorted "row,col" strings. */
const marks = (page) => page.locator(testid('support-mark')).evaluateAll((rects) => rects
  .map((r) => `${r.getAttribute('y') / r.getAttribute('height')},${r.getAttribute('x') / r.getAttribute('width')}`)
  .sort());

/** Each class's support count, as the classes panel shows it. */
const counts = async (page) => (await page.locator(testid('support-count')).allInnerTexts()).map(Number);

for (const [build, query] of [['default', ''], ['one-thread', 'threads=1&']]) {
  test(`an internal error (${build} build) shows its message and a Reload button that brings the labels back`, async () => {
    const context = await launchBrowser({ webgpu: false });
    try {
      const { page, errors } = await openPage(context, `${app.url}?${query}example`);
      await setUp(page);
      await label(page, ['vacuum', 'film'], [[[0, 0], [1, 0]], [[7, 7]]]);
      // An uncaught exception, as a panic inside any event handler of the page would be.
      await page.evaluate(() => setTimeout(() => dispatchEvent(new Event('chipscope-test-panic'))));
      await page.locator(testid('crash')).waitFor();
      assert.equal(await page.locator('#crash h2').innerText(), 'Chipscope hit an internal error');
      assert.match(await page.locator(testid('crash-message')).innerText(),
        /^panicked at src\/crash\.rs:\d+:\d+:\na test panic, asked for by the chipscope-test-panic event$/);
      assert.ok(errors.some((e) => /a test panic/.test(e)), 'the panic is logged to the console');
      await screenshot(page, `resilience-crash-${build}.png`);

      const before = errors.length;
      await page.locator(testid('crash-reload')).click();
      await page.waitForFunction(() => 'wasmBindings' in window, null, { timeout: 60_000 });
      await page.locator(testid('labels-notice')).filter({ hasText: 'Session opened: 2 classes, 3 supports.' }).waitFor({ timeout: 60_000 });
      assert.deepEqual(await marks(page), ['0,0', '1,0', '7,7']);
      assert.deepEqual(await counts(page), [2, 1]);
      assert.deepEqual(await page.locator(testid('class-name')).evaluateAll((inputs) => inputs.map((i) => i.value)), ['vacuum', 'film']);
      assert.equal(await page.locator(testid('crash')).count(), 0);
      await screenshot(page, `resilience-reloaded-${build}.png`);
      assert.deepEqual(errors.slice(before), [], 'nothing logged after the reload');
    } finally {
      await context.close();
    }
  });
}

test('an internal error in a worker of the thread pool is shown by its own tab only, and Reload brings the labels back', async () => {
  const context = await launchBrowser({ webgpu: false });
  try {
    const { page } = await openPage(context, `${app.url}?example`);
    const { page: other } = await openPage(context, `${app.url}?example`);
    await setUp(page);
    // The job must run on the pool, not inline on the main thread as before the pool starts.
    await page.locator(`${testid('backend')}[data-backend="cpu"]`).filter({ hasText: /\d+ threads/ }).waitFor({ timeout: 60_000 });
    await label(page, ['vacuum', 'film'], [[[0, 0]], [[7, 7]]]);
    await page.evaluate(() => dispatchEvent(new CustomEvent('chipscope-test-panic', { detail: 'pool' })));
    await page.locator(testid('crash')).waitFor({ timeout: 30_000 });
    assert.match(await page.locator(testid('crash-message')).innerText(),
      /^panicked at src\/crash\.rs:\d+:\d+:\na test panic in the thread pool, asked for by the chipscope-test-panic event$/);
    await other.waitForTimeout(1000);
    assert.equal(await other.locator(testid('crash')).count(), 0, 'another tab of the site goes on');
    await screenshot(page, 'resilience-crash-pool.png');
    await page.locator(testid('crash-reload')).click();
    await page.locator(testid('labels-notice')).filter({ hasText: 'Session opened: 2 classes, 2 supports.' }).waitFor({ timeout: 60_000 });
    assert.deepEqual(await marks(page), ['0,0', '7,7']);
  } finally {
    await context.close();
  }
});

test('after an internal error from WebGPU the page restarts on the CPU, with the classes back', async () => {
  const context = await launchBrowser({ webgpu: true });
  const backend = (page, kind) => page.locator(`${testid('backend')}[data-backend="${kind}"]`);
  try {
    const { page, errors } = await openPage(context, `${app.url}?example`);
    page.setDefaultTimeout(60_000);
    await backend(page, 'webgpu').waitFor({ timeout: 120_000 });
    await setUp(page);
    // Classes named, no chip clicked: a click would start an embedding on SwiftShader's slow
    // WebGPU (the supports' return is checked above).
    await label(page, ['vacuum', 'film'], []);
    // A panic whose message names wgpu, as wgpu's own errors do (their location is in wgpu).
    await page.evaluate(() => setTimeout(() => dispatchEvent(new CustomEvent('chipscope-test-panic', { detail: ' (as if in wgpu)' }))));
    await page.locator(testid('crash-reload')).click();
    await page.locator(testid('labels-notice')).filter({ hasText: 'Session opened: 2 classes, 0 supports.' }).waitFor();
    await backend(page, 'cpu').waitFor();
    assert.match(await backend(page, 'cpu').innerText(), /WebGPU stopped the page with an error; reload to try it again/);
    assert.deepEqual(await page.locator(testid('class-name')).evaluateAll((inputs) => inputs.map((i) => i.value)), ['vacuum', 'film']);
    const before = errors.length;
    await page.reload();
    await backend(page, 'webgpu').waitFor({ timeout: 120_000 });
    assert.deepEqual(errors.slice(before), []);
  } finally {
    await context.close();
  }
});

test('a full storage loses the oldest autosaves of other data first, never the current one', async () => {
  const context = await launchBrowser({ webgpu: false });
  try {
    const { page, errors } = await openPage(context, `${app.url}?example`);
    await setUp(page);
    await label(page, ['vacuum', 'film'], [[[0, 0]], [[7, 7]]]);
    // Autosaves of three other examples, saved at 1, 3 and 2 s after 1970, then filler until
    // not one more key fits.
    const current = await page.evaluate(() => {
      const prefix = 'chipscope.autosave.v1.';
      const identity = localStorage.getItem(`${prefix}last`);
      const text = localStorage.getItem(prefix + identity);
      for (const [seed, at] of [[101, 1000], [102, 3000], [103, 2000]]) {
        const other = JSON.parse(text);
        Object.assign(other, { saved_at_ms: at });
        Object.assign(other.session.source, { seed });
        localStorage.setItem(`${prefix}example:512:${seed}`, JSON.stringify(other));
      }
      let chunk = 'x'.repeat(1 << 20);
      for (let i = 0; chunk.length > 0; i++) {
        try { localStorage.setItem(`filler${i}`, chunk); } catch { chunk = chunk.slice(0, chunk.length >> 1); }
      }
      return identity;
    });
    // Not one more key, but the autosave of a click or two may still fit: four clicks.
    for (const cell of [[3, 3], [4, 4], [5, 5], [6, 6]]) await clickChip(page, cell, GRID);
    const kept = await page.evaluate((identity) => {
      const session = JSON.parse(localStorage.getItem(`chipscope.autosave.v1.${identity}`)).session;
      const others = Object.keys(localStorage).filter((key) => /^chipscope\.autosave\.v1\.example:512:10/.test(key));
      return { supports: session.classes.map((c) => c.supports), others: others.sort() };
    }, current);
    assert.deepEqual(kept.supports, [[[0, 0]], [[7, 7], [3, 3], [4, 4], [5, 5], [6, 6]]], 'the clicks are autosaved');
    assert.deepEqual(kept.others, ['chipscope.autosave.v1.example:512:102', 'chipscope.autosave.v1.example:512:103'], 'the oldest went');
    assert.equal(await page.locator(testid('labels-notice')).filter({ hasText: 'Autosave failed' }).count(), 0);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

/** Seeded pseudo-random numbers in [0, 1) (mulberry32). */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Ends the renderer at once: a crash, or a close that runs no unload handler. */
async function kill(context, page, crash) {
  if (crash) {
    const cdp = await context.newCDPSession(page);
    const crashed = page.waitForEvent('crash');
    cdp.send('Page.crash').catch(() => {});
    await crashed;
  }
  await page.close({ runBeforeUnload: false });
}

test(`a tab killed ${KILLS} times at random moments keeps every support clicked before (seed ${SEED})`, async (t) => {
  const rand = random(SEED);
  const pick = (n) => Math.floor(rand() * n);
  const context = await launchBrowser({ webgpu: false });
  const saved = new Map(); // "row,col" → class index, of every support clicked before a kill
  let inFlight = null; // a click sent as the tab died: it may or may not have landed
  const moments = { restoring: 0, 'after a click': 0, later: 0, 'click under way': 0 };
  try {
    for (let round = 0; round <= KILLS; round++) {
      const { page, errors } = await openPage(context, round === 0 ? `${app.url}?example` : app.url);
      if (round === 0) {
        await setUp(page);
        await label(page, ['vacuum', 'film'], []);
      } else {
        await page.locator(testid('resume')).click();
        const moment = pick(5);
        if (moment === 0 && round < KILLS) { // while the session is being restored
          moments.restoring++;
          await kill(context, page, round % 2 === 0);
          continue;
        }
        await page.locator(testid('labels-notice')).filter({ hasText: 'Session opened' }).waitFor({ timeout: 60_000 });
        const shown = await marks(page);
        const missing = [...saved.keys()].filter((cell) => !shown.includes(cell));
        assert.deepEqual(missing, [], `round ${round}: supports lost`);
        const extra = shown.filter((cell) => !saved.has(cell));
        assert.ok(extra.every((cell) => cell === inFlight?.cell), `round ${round}: supports never clicked: ${extra}`);
        if (extra.length) saved.set(inFlight.cell, inFlight.cls);
        const expected = [0, 1].map((cls) => [...saved.values()].filter((c) => c === cls).length);
        assert.deepEqual(await counts(page), expected, `round ${round}: supports per class`);
        inFlight = null;
        if (round === KILLS) {
          await screenshot(page, 'resilience-after-kills.png');
          assert.deepEqual(errors, []);
          break;
        }
      }
      const free = () => {
        const cells = [];
        for (let row = 0; row < GRID; row++) for (let col = 0; col < GRID; col++) if (!saved.has(`${row},${col}`)) cells.push(`${row},${col}`);
        return cells[pick(cells.length)];
      };
      const click = async (cell) => clickChip(page, cell.split(',').map(Number), GRID);
      const cls = pick(2);
      await pickClass(page, cls);
      for (let n = 1 + pick(3); n > 0; n--) {
        const cell = free();
        await click(cell);
        saved.set(cell, cls);
      }
      const moment = pick(4);
      moments[['after a click', 'later', 'click under way', 'after a click'][moment]]++;
      if (moment === 1) await page.waitForTimeout(pick(250));
      if (moment === 2) { // a click under way as the tab dies
        inFlight = { cell: free(), cls };
        click(inFlight.cell).catch(() => {});
      }
      await kill(context, page, round % 2 === 1);
    }
    t.diagnostic(`kills: ${JSON.stringify(moments)}; ${saved.size} supports in the end`);
    assert.ok(saved.size >= KILLS, `${saved.size} supports clicked in all`);
  } finally {
    await context.close();
  }
});

test('the built page has a Content-Security-Policy and no inline script, and it blocks injected script', async () => {
  const html = await readFile(join(repoRoot, 'dist', 'index.html'), 'utf8');
  const policy = html.match(/<meta http-equiv="Content-Security-Policy" content="([^"]+)">/)?.[1];
  assert.ok(policy, 'a CSP meta tag');
  const directives = Object.fromEntries(policy.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values]));
  assert.deepEqual(directives['default-src'], ["'none'"]);
  assert.deepEqual(directives['script-src'], ["'self'", "'wasm-unsafe-eval'"]);
  assert.ok(!policy.includes("'unsafe-eval'") && !directives['script-src'].includes("'unsafe-inline'"));
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
  assert.ok(scripts.length >= 1);
  for (const [, attributes, body] of scripts) {
    assert.match(attributes, /\bsrc=/, 'every script is a file');
    assert.equal(body.trim(), '', 'no inline script');
  }

  const context = await launchBrowser({ webgpu: false });
  try {
    const page = await context.newPage();
    await page.addInitScript(() => {
      window.violations = [];
      addEventListener('securitypolicyviolation', (event) => window.violations.push(`${event.violatedDirective} ${event.blockedURI}`));
    });
    const errors = [];
    page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
    await page.goto(`${app.url}?example`);
    await page.waitForFunction(() => 'wasmBindings' in window, null, { timeout: 60_000 });
    await setUp(page);
    assert.deepEqual(await page.evaluate(() => window.violations), [], 'the app itself breaks no rule');
    const injected = await page.evaluate(() => {
      const script = document.createElement('script');
      script.textContent = 'window.injected = true';
      document.body.append(script);
      return window.injected ?? false;
    });
    assert.equal(injected, false, 'an injected inline script does not run');
    assert.deepEqual(await page.evaluate(() => window.violations), ['script-src-elem inline']);
    assert.ok(errors.every((e) => /Content Security Policy/.test(e)), errors.join('\n'));
  } finally {
    await context.close();
  }
});
