// Starts the page: makes it cross-origin isolated when the host cannot (public/coi-sw.js), then
// loads one of the two builds of the app that scripts/build-web.sh makes; and shows the app's
// internal errors (a panic, or a WebAssembly trap), which end the app, with a Reload button.
//
// - dist/threads/: the CPU encoders on a pool of workers sharing the WebAssembly memory, which
//   browsers allow only on a cross-origin isolated page; built without WebGPU (wgpu cannot run
//   in a WebAssembly module with threads).
// - dist/: WebGPU, and the CPU on the page's own thread.
//
// The threaded build is chosen when the page is isolated and the browser offers no WebGPU
// adapter; `?threads=1` in the address asks for the one-thread build (to compare). Trunk puts
// the script tag that loads this file where its own loader would go (Trunk.toml's
// pattern_script), with the names of the build's files in its data attributes: no inline
// script, which the page's Content-Security-Policy forbids.

const RELOADED = 'chipscope-isolation-reload';
/** How long the isolating service worker may take to become ready before the page goes on. */
const WORKER_WAIT_MS = 4000;

async function start(base, js, wasm) {
  if (await reloadIsolated(base)) return;
  const build = await chooseBuild(base);
  window.chipscopeBuild = build;
  const [glue, module] = build.threads
    ? [`${base}threads/chipscope-web.js`, `${base}threads/chipscope-web_bg.wasm`]
    : [`${base}${js}`, `${base}${wasm}`];
  const bindings = await import(glue);
  const instance = await bindings.default({ module_or_path: module });
  window.wasmBindings = bindings;
  dispatchEvent(new CustomEvent('TrunkApplicationStarted', { detail: { wasm: instance } }));
}

/**
 * Registers the isolating service worker and reloads once so that it serves this page; true
 * when a reload is under way. Does nothing when the page is isolated already (the host sends
 * the headers), when service workers are unavailable (then the page runs on one thread), and
 * after one reload that did not isolate it (no loop).
 */
async function reloadIsolated(base) {
  if (crossOriginIsolated) {
    sessionStorage.removeItem(RELOADED);
    return false;
  }
  if (!('serviceWorker' in navigator) || !isSecureContext || sessionStorage.getItem(RELOADED)) {
    return false;
  }
  // Blocked service workers (private windows, policies) either refuse to register or never
  // become ready: after a few seconds the page starts on one thread instead of waiting forever.
  const ready = navigator.serviceWorker.register(`${base}coi-sw.js`)
    .then(() => navigator.serviceWorker.ready)
    .then(() => true, () => false);
  const timeout = new Promise((resolve) => { setTimeout(() => resolve(false), WORKER_WAIT_MS); });
  if (!(await Promise.race([ready, timeout]))) return false;
  sessionStorage.setItem(RELOADED, '1');
  location.reload();
  return true;
}

async function chooseBuild(base) {
  if (new URLSearchParams(location.search).get('threads') === '1') {
    return { threads: false, why: 'one thread asked for with ?threads=1' };
  }
  if (!crossOriginIsolated) {
    return { threads: false, why: 'the page is not cross-origin isolated, so it cannot share memory with workers' };
  }
  if (await hasWebGpu()) {
    return { threads: false, why: 'the WebGPU build, loaded because the browser offers an adapter' };
  }
  const threaded = await fetch(`${base}threads/chipscope-web.js`, { method: 'HEAD' }).catch(() => null);
  if (!threaded?.ok) {
    return { threads: false, why: 'the threaded build is not deployed here' };
  }
  return { threads: true, why: 'no WebGPU adapter' };
}

async function hasWebGpu() {
  try {
    return Boolean(await navigator.gpu?.requestAdapter());
  } catch {
    return false;
  }
}

// Internal errors. The app's panic hook (src/crash.rs) keeps the panic's message in session
// storage under this key and sends `chipscope-crash`; a WebAssembly trap without a panic (out
// of memory) only surfaces as an uncaught RuntimeError. Either way the app is dead, so the
// message and the Reload button are made here, in plain JavaScript; on the next start the app
// finds the key and restores the last autosave.
const CRASH = 'chipscope-crash';

addEventListener(CRASH, () => showCrash(sessionStorage.getItem(CRASH) ?? 'unknown error'));
// A panic in a worker of the thread pool, which has no page to draw on, arrives on a broadcast
// channel as [token, message]; every tab of the site hears it, so the token says whose it is.
window.chipscopePageToken = `${Date.now()}-${Math.random()}`;
new BroadcastChannel(CRASH).onmessage = ({ data: [token, message] }) => {
  if (token === window.chipscopePageToken) crashed(String(message));
};
addEventListener('error', (event) => trapped(event.error));
addEventListener('unhandledrejection', (event) => trapped(event.reason));

function trapped(error) {
  if (error instanceof WebAssembly.RuntimeError) crashed(String(error));
}

/**
 * Keeps `message` for the next start (as the panic hook does) and shows it — unless an error is
 * already shown: the trap that follows a panic must not replace the panic's message.
 */
function crashed(message) {
  if (document.getElementById('crash')) return;
  sessionStorage.setItem(CRASH, message);
  showCrash(message);
}

/** A new `tag` element with `props` and `children`. */
function element(tag, props, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/** Covers the dead page with the error, its message and a Reload button (once). */
function showCrash(message) {
  if (document.getElementById('crash')) return;
  const reload = element('button', { className: 'button', type: 'button', textContent: 'Reload' });
  reload.dataset.testid = 'crash-reload';
  reload.addEventListener('click', () => location.reload());
  const details = element('pre', { textContent: message });
  details.dataset.testid = 'crash-message';
  const dialog = element('div', { id: 'crash', className: 'crash' },
    element('div', { className: 'crash-box' },
      element('h2', { id: 'crash-title', textContent: 'Chipscope hit an internal error' }),
      element('p', { textContent: 'The page stopped. Your labels are autosaved in this browser: Reload starts Chipscope again and brings them back.' }),
      details, reload));
  dialog.setAttribute('role', 'alertdialog');
  dialog.setAttribute('aria-labelledby', 'crash-title');
  dialog.dataset.testid = 'crash';
  document.body.append(dialog);
  reload.focus();
}

const script = document.querySelector('script[data-chipscope-wasm]');
start(script.dataset.chipscopeBase, script.dataset.chipscopeJs, script.dataset.chipscopeWasm);
