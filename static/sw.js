/* Herald's service worker (served at /sw.js, scope /).
 *
 * - Keeps the app shell (styles, scripts) and the last notification center the user saw, so
 *   the center still opens without a network and says it is offline.
 * - Pages are network-first: the server's copy wins whenever it answers, and a fresh center
 *   replaces the cached one. HTMX fragment requests and POSTs are never cached.
 * - Shows web push messages and opens the notification's page when one is clicked, reporting
 *   the click to the server.
 */
var SHELL_CACHE = "herald-shell-v1";
var PAGES_CACHE = "herald-pages-v1";
var CENTER_PATH = "/notifications/";
var SHELL = [
  "/static/css/herald.css",
  "/static/js/herald.js",
  "/static/django_htmx/htmx-2.min.js",
  "/static/django_htmx/ext/hx-ws-2.min.js"
];

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(SHELL_CACHE).then(function (cache) { return cache.addAll(SHELL); })
      .then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  var keep = [SHELL_CACHE, PAGES_CACHE];
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) { return keep.indexOf(name) < 0; })
        .map(function (name) { return caches.delete(name); }));
    }).then(function () { return self.clients.claim(); })
  );
});

function isCenter(url) {
  return url.pathname === CENTER_PATH;
}

function offlineResponse() {
  return new Response(
    "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>" +
    "<title>Offline · Herald</title><link rel=stylesheet href='/static/css/herald.css'>" +
    "<main class='container'><section class='card offline-page'><h1>You are offline</h1>" +
    "<p>Herald will show your notifications again as soon as the network is back.</p>" +
    "<p><a class='button' href='/notifications/'>Open the last notification center</a></p>" +
    "</section></main>",
    { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } }
  );
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) { return; }
  if (request.headers.get("HX-Request")) { return; }

  if (request.mode === "navigate") {
    event.respondWith(
      fetch(request).then(function (response) {
        if (response.ok && isCenter(url)) {
          var copy = response.clone();
          caches.open(PAGES_CACHE).then(function (cache) { cache.put(CENTER_PATH, copy); });
        }
        return response;
      }).catch(function () {
        return caches.open(PAGES_CACHE).then(function (cache) {
          return cache.match(isCenter(url) ? CENTER_PATH : request).then(function (cached) {
            return cached || offlineResponse();
          });
        });
      })
    );
    return;
  }

  if (url.pathname.indexOf("/static/") === 0) {
    // Stale-while-revalidate: the shell opens at once and refreshes in the background.
    event.respondWith(
      caches.open(SHELL_CACHE).then(function (cache) {
        return cache.match(request).then(function (cached) {
          var network = fetch(request).then(function (response) {
            if (response.ok) { cache.put(request, response.clone()); }
            return response;
          }).catch(function () { return cached; });
          return cached || network;
        });
      })
    );
  }
});

self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { body: event.data.text() }; }
  var title = data.title || "Herald";
  event.waitUntil(self.registration.showNotification(title, {
    body: data.body || "",
    tag: data.tag || (data.id ? "notification-" + data.id : undefined),
    data: { url: data.url || CENTER_PATH, click: data.click },
    icon: data.icon
  }));
});

// The click is reported to the server (its signed "click" URL records it on the delivery); a
// failed report never keeps the page from opening.
function reportClick(data) {
  if (!data || !data.click) { return Promise.resolve(); }
  return fetch(data.click, { method: "POST", credentials: "omit", keepalive: true })
    .catch(function () {});
}

// Only this site's pages are opened: a push naming another origin (or a javascript: URL) opens
// the notification center instead.
function sameOriginTarget(url) {
  try {
    var target = new URL(url || CENTER_PATH, self.location.origin);
    if (target.origin === self.location.origin) { return target.href; }
  } catch (e) {}
  return new URL(CENTER_PATH, self.location.origin).href;
}

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var data = event.notification.data || {};
  var target = sameOriginTarget(data.url);
  // The window opens at once (the click's permission to open one is short-lived); the report
  // runs beside it.
  event.waitUntil(Promise.all([
    reportClick(data),
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
      for (var i = 0; i < windows.length; i++) {
        if (windows[i].url === target && "focus" in windows[i]) { return windows[i].focus(); }
      }
      return self.clients.openWindow(target);
    })
  ]));
});
