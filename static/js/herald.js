/* Herald's page script: what HTMX has no attribute for.
 *
 * - The socket (HTMX ws extension on #notification-live) carries server-rendered fragments.
 *   The "herald" extension below filters them before they are swapped: a notification already
 *   shown is dropped (DOM ids notification-<id> plus the ids seen by this page), and a burst
 *   beyond MAX_TOASTS collapses into one "N new notifications" toast.
 * - On every (re)connect the page sends the last notification id it has; the server answers
 *   with what came after it (catch-up), so a reconnect or an offline spell loses nothing.
 * - The connection indicator follows the socket: live / reconnecting / offline. While the
 *   socket is down the badge and the center's list are polled over plain HTTP.
 * - Toasts auto-dismiss unless hovered or focused; banners, and the "N more while you were
 *   away" note of a catch-up past its cap, stay until dismissed.
 */
(function () {
  "use strict";

  var MAX_TOASTS = 3;
  var TOAST_MS = 6000;
  var DEFAULT_POLL_MS = 10000;
  var RECONNECT_BASE_MS = 300;
  var RECONNECT_CAP_MS = 5000;

  var lastId = 0;
  var shownIds = new Set();
  var socketWrapper = null;
  var currentSocket = null;
  var everOpened = false;
  var pollTimer = null;
  var retries4503 = 0;

  // Reconnect quickly after a server restart, with full jitter, never waiting more than a few
  // seconds (the extension's default doubles up to 64 s).
  htmx.config.wsReconnectDelay = function (retryCount) {
    var ceiling = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * Math.pow(2, retryCount));
    return RECONNECT_BASE_MS / 2 + Math.random() * ceiling;
  };
  // Keep a handle on the socket so going offline can close it (the wrapper exposes no close).
  // A page may hold other sockets besides the notification one (the leaderboard's, an
  // event's): they reconnect the same way, but only the notification socket drives the
  // connection indicator and the catch-up.
  htmx.createWebSocket = function (url) {
    var socket = new WebSocket(url, []);
    socket.binaryType = htmx.config.wsBinaryType;
    if (url.indexOf("/ws/notifications/") !== -1) { currentSocket = socket; }
    return socket;
  };

  function fromNotificationSocket(event) {
    return event.target && event.target.id === "notification-live";
  }

  function live() { return document.getElementById("notification-live"); }
  function toastStack() { return document.getElementById("notification-toasts"); }

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["x-csrftoken"] || ""; }
    catch (e) { return ""; }
  }

  function urlFor(attribute, id) {
    return live().dataset[attribute].replace("/0/", "/" + id + "/");
  }

  // --- Connection state and polling fallback ------------------------------------------------

  var LABELS = {
    connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline",
    elsewhere: "Open in another tab",
  };

  function setConnection(state) {
    var indicator = document.getElementById("connection-state");
    if (indicator) {
      indicator.dataset.state = state;
      indicator.querySelector(".connection-label").textContent = LABELS[state];
    }
    document.documentElement.dataset.connection = state;
    if (state === "live") { stopPolling(); } else { startPolling(); }
  }

  function poll() {
    if (!navigator.onLine || !live()) { return; }
    htmx.ajax("GET", live().dataset.badgeUrl, { target: "#notification-badge", swap: "outerHTML" });
    htmx.trigger(document.body, "herald:refresh");
  }

  function startPolling() {
    var every = (live() && parseInt(live().dataset.pollMs, 10)) || DEFAULT_POLL_MS;
    if (pollTimer === null) { pollTimer = window.setInterval(poll, every); }
  }

  function stopPolling() {
    if (pollTimer !== null) { window.clearInterval(pollTimer); pollTimer = null; }
  }

  function sendCatchUp() {
    if (socketWrapper) {
      socketWrapper.send(JSON.stringify({ action: "catch_up", last_id: lastId }));
    }
  }

  document.addEventListener("htmx:wsConnecting", function (event) {
    if (!fromNotificationSocket(event)) { return; }
    setConnection(!navigator.onLine ? "offline" : everOpened ? "reconnecting" : "connecting");
  });
  document.addEventListener("htmx:wsOpen", function (event) {
    if (!fromNotificationSocket(event)) { return; }
    everOpened = true;
    retries4503 = 0;
    socketWrapper = event.detail.socketWrapper;
    setConnection("live");
    sendCatchUp();
  });
  document.addEventListener("htmx:wsClose", function (event) {
    if (!fromNotificationSocket(event)) { return; }
    var closed = event.detail.event;
    // A replaced socket closing late says nothing about the one now in use.
    if (closed && closed.target && currentSocket && closed.target !== currentSocket) { return; }
    var code = closed && closed.code;
    if (code === 4401) { setConnection("offline"); return; }  // Logged out: no retry.
    // Too many open pages: this (the oldest) one stays quiet and polls; no retry, which would
    // close another page in turn.
    if (code === 4429) { setConnection("elsewhere"); return; }
    setConnection(navigator.onLine ? "reconnecting" : "offline");
    // The server's channel layer was unavailable: the extension retries only 1006/1011-1013,
    // so retry here, with the same jittered backoff, and catch up once open.
    if (code === 4503 && socketWrapper) {
      retries4503 += 1;
      setTimeout(function () { socketWrapper.reconnect(); }, htmx.config.wsReconnectDelay(retries4503));
    }
  });
  window.addEventListener("offline", function () {
    setConnection("offline");
    if (currentSocket && currentSocket.readyState <= WebSocket.OPEN) { currentSocket.close(1000); }
  });
  window.addEventListener("online", function () {
    setConnection("reconnecting");
    poll();
    if (socketWrapper) { socketWrapper.reconnect(); }
  });

  // --- Incoming fragments: dedupe and burst collapse ----------------------------------------

  function rememberId(id) {
    shownIds.add(id);
    if (id > lastId) { lastId = id; }
  }

  function individualToasts() {
    // A toast holding a control (the Undo of "Clear all") is not folded into a burst summary.
    return toastStack().querySelectorAll(".toast:not([data-summary]):not([data-keep])");
  }

  function showSummary(count) {
    var stack = toastStack();
    var summary = stack.querySelector("[data-summary]");
    if (!summary) {
      var template = document.getElementById("toast-summary-template");
      summary = template.content.firstElementChild.cloneNode(true);
      stack.appendChild(summary);
      armToast(summary);
    }
    summary.dataset.count = String(count);
    summary.querySelector("[data-count]").textContent = String(count);
  }

  htmx.defineExtension("herald", {
    transformResponse: function (text, xhr, elt) {
      if (xhr !== null || !elt || elt.id !== "notification-live") { return text; }
      var template = document.createElement("template");
      template.innerHTML = text;
      var fresh = [];
      // A new "N more while you were away" note replaces the one already shown.
      if (template.content.getElementById("notification-more")) {
        var shownNote = document.getElementById("notification-more");
        if (shownNote) { shownNote.remove(); }
      }
      template.content.querySelectorAll("[data-notification-id]").forEach(function (item) {
        var id = parseInt(item.dataset.notificationId, 10);
        var wrapper = item.closest("[hx-swap-oob]") || item;
        if (shownIds.has(id) || document.getElementById("notification-" + id)) {
          wrapper.remove();
          return;
        }
        rememberId(id);
        if (item.classList.contains("toast")) { fresh.push(wrapper); }
      });
      if (fresh.length) {
        var summary = toastStack().querySelector("[data-summary]");
        var showing = individualToasts().length;
        if (summary || showing + fresh.length > MAX_TOASTS) {
          var count = (summary ? parseInt(summary.dataset.count, 10) : showing) + fresh.length;
          fresh.forEach(function (wrapper) { wrapper.remove(); });
          individualToasts().forEach(function (toast) { toast.remove(); });
          showSummary(count);
        }
      }
      if (template.content.querySelector("[data-notification-id]") || fresh.length) {
        // New rows for the center's list and the open dropdown, once this message is swapped.
        window.setTimeout(function () { htmx.trigger(document.body, "herald:refresh"); }, 0);
      }
      return template.innerHTML;
    }
  });

  // --- Toasts and banners -------------------------------------------------------------------

  function armToast(toast) {
    if (toast.dataset.armed || toast.hasAttribute("data-sticky")) { return; }
    toast.dataset.armed = "1";
    var timer = null;
    function start() { stop(); timer = window.setTimeout(function () { toast.remove(); }, TOAST_MS); }
    function stop() { if (timer !== null) { window.clearTimeout(timer); timer = null; } }
    toast.addEventListener("mouseenter", stop);
    toast.addEventListener("focusin", stop);
    toast.addEventListener("mouseleave", start);
    toast.addEventListener("focusout", function (event) {
      if (!toast.contains(event.relatedTarget)) { start(); }
    });
    start();
  }

  function armNewToasts(root) {
    root.querySelectorAll(".toast").forEach(armToast);
  }

  function postForm(action) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = action;
    var token = document.createElement("input");
    token.type = "hidden";
    token.name = "csrfmiddlewaretoken";
    token.value = csrfToken();
    form.appendChild(token);
    document.body.appendChild(form);
    form.submit();
  }

  document.addEventListener("click", function (event) {
    var close = event.target.closest("[data-dismiss]");
    if (close) {
      var box = close.closest(".toast, .banner");
      if (box && box.classList.contains("banner") && box.dataset.notificationId) {
        htmx.ajax("POST", urlFor("readUrl", box.dataset.notificationId), { source: document.body, swap: "none" });
      }
      if (box) { box.remove(); }
      return;
    }
    // Following a toast or banner goes through the click-through, which marks it read
    // (a modified click, e.g. to open a new tab, keeps the plain link).
    var link = event.target.closest(".toast-link, .banner-link");
    var owner = link && link.closest("[data-notification-id]");
    var modified = event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey;
    if (owner && !modified) {
      event.preventDefault();
      postForm(urlFor("openUrl", owner.dataset.notificationId));
    }
  });

  // --- Dropdown under the bell --------------------------------------------------------------

  function dropdownPanel() { return document.getElementById("notification-dropdown"); }
  function bell() { return document.getElementById("notification-bell"); }

  function closeDropdown(focusBell) {
    var panel = dropdownPanel();
    if (!panel || !bell()) { return; }
    panel.hidden = true;
    bell().setAttribute("aria-expanded", "false");
    if (focusBell) { bell().focus(); }
  }

  function openDropdown() {
    bell().setAttribute("aria-expanded", "true");
    htmx.trigger(bell(), "herald:open-dropdown");
  }

  function dropdownIsOpen() {
    return bell() && bell().getAttribute("aria-expanded") === "true";
  }

  document.addEventListener("click", function (event) {
    if (!bell()) { return; }
    if (event.target.closest("#notification-bell")) {
      event.preventDefault();
      if (dropdownIsOpen()) { closeDropdown(false); } else { openDropdown(); }
    } else if (dropdownIsOpen() && !event.target.closest("#notification-dropdown")) {
      closeDropdown(false);
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && dropdownIsOpen()) { closeDropdown(true); }
  });
  document.addEventListener("herald:refresh", function () {
    if (dropdownIsOpen()) { htmx.trigger(bell(), "herald:open-dropdown"); }
  });

  // --- Service worker and web push ----------------------------------------------------------

  // The offline copy of the center belongs to whoever is logged in: logging out forgets it.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches("form[data-logout]") && window.caches) {
      event.preventDefault();
      window.caches.delete("herald-pages-v1").finally(function () { form.submit(); });
    }
  });

  function urlBase64ToUint8Array(value) {
    var padding = "=".repeat((4 - (value.length % 4)) % 4);
    var raw = window.atob((value + padding).replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(raw, function (c) { return c.charCodeAt(0); });
  }

  function enablePush(button) {
    var setup = document.getElementById("push-setup");
    var status = setup.querySelector("[data-push-status]");
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
      status.textContent = "This browser does not support web push.";
      return;
    }
    button.disabled = true;
    Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") { throw new Error("Notifications are blocked for this site."); }
      return navigator.serviceWorker.ready;
    }).then(function (registration) {
      return registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: urlBase64ToUint8Array(setup.dataset.vapidPublicKey)
      });
    }).then(function (subscription) {
      return fetch(setup.dataset.registerUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify(subscription.toJSON())
      });
    }).then(function (response) {
      if (!response.ok) { throw new Error("The server did not accept this browser (" + response.status + ")."); }
      status.textContent = "Push notifications are on for this browser.";
    }).catch(function (error) {
      status.textContent = error.message;
      button.disabled = false;
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-action='enable-push']");
    if (button) { enablePush(button); }
  });

  // --- Start --------------------------------------------------------------------------------

  function start() {
    if (!live()) { return; }
    lastId = parseInt(live().dataset.lastId, 10) || 0;
    document.querySelectorAll("[data-notification-id]").forEach(function (item) {
      if (item.id === "notification-" + item.dataset.notificationId) {
        rememberId(parseInt(item.dataset.notificationId, 10));
      }
    });
    new MutationObserver(function (records) {
      records.forEach(function (record) {
        record.addedNodes.forEach(function (node) {
          if (node.nodeType !== 1) { return; }
          if (node.classList.contains("toast")) { armToast(node); } else { armNewToasts(node); }
        });
      });
    }).observe(toastStack(), { childList: true, subtree: true });
    armNewToasts(toastStack());
    setConnection(navigator.onLine ? "connecting" : "offline");
  }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
