// A service worker that makes Chipscope cross-origin isolated on static hosts that cannot send
// headers (GitHub Pages, a plain file server): it adds Cross-Origin-Opener-Policy and
// Cross-Origin-Embedder-Policy to every same-origin response, which is what lets the page share
// its WebAssembly memory with the workers of its thread pool. public/loader.js registers it and
// reloads the page once. Cross-origin requests pass through untouched.

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (new URL(request.url).origin !== self.location.origin) return;
  if (request.cache === 'only-if-cached' && request.mode !== 'same-origin') return;
  event.respondWith(withIsolation(request));
});

async function withIsolation(request) {
  const response = await fetch(request);
  if (response.status === 0) return response; // opaque: headers cannot be changed
  const headers = new Headers(response.headers);
  headers.set('Cross-Origin-Opener-Policy', 'same-origin');
  headers.set('Cross-Origin-Embedder-Policy', 'require-corp');
  headers.set('Cross-Origin-Resource-Policy', 'same-origin');
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}
