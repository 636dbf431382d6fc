"""The service worker reports a web push click to the server, which records it on the row."""

import json

import pytest
from django.urls import reverse

from notifications.delivery import clicks
from notifications.models import Channel, Delivery, DeliveryStatus
from tests.celery_worker import wait_for
from tests.delivery.factories import DeliveryFactory, NotificationFactory
from tests.ui.factories import UserFactory

pytestmark = pytest.mark.browser


def test_clicking_a_pushed_message_is_reported_and_recorded(open_page, asgi_server):
    user = UserFactory()
    delivery = DeliveryFactory(
        channel=Channel.PUSH, status=DeliveryStatus.SENT,
        notification=NotificationFactory(recipient=user, url="/notifications/"),
    )
    page = open_page(user, "/notifications/")
    page.context.grant_permissions(["notifications"], origin=asgi_server.url)
    page.wait_for_function(
        "navigator.serviceWorker && navigator.serviceWorker.controller !== null", polling=100
    )
    [worker] = page.context.service_workers
    token = clicks.url_for(notification_id=delivery.notification_id,
                           channel=Channel.PUSH).rsplit("/", 1)[1]
    payload = {"title": "Quiz night moved", "body": "20:00", "url": "/notifications/",
               "click": asgi_server.url + reverse("push:clicked", args=[token])}

    # The push service is out of reach: the worker's own push and click handlers run on a
    # message shown the way a delivered push shows it.
    worker.evaluate(
        """async (payload) => {
             // The handler's own waitUntil promise is kept, so a showNotification that fails
             // (permission not yet applied, notification service still starting) is seen with
             // its reason and the push is dispatched again, for 30 s at most.
             let shown = [], reasons = [];
             const deadline = Date.now() + 30000;
             while (!shown.length && Date.now() < deadline) {
               const event = new PushEvent("push", {data: JSON.stringify(payload)});
               const pending = [];
               event.waitUntil = (promise) => pending.push(promise);
               self.dispatchEvent(event);
               try {
                 await Promise.all(pending);
               } catch (error) {
                 reasons.push(String(error));
               }
               for (let i = 0; i < 20 && !shown.length; i++) {
                 shown = await self.registration.getNotifications();
                 if (!shown.length) await new Promise(r => setTimeout(r, 100));
               }
             }
             if (!shown.length) {
               throw new Error("the pushed message was never shown: " + reasons.slice(-3).join("; "));
             }
             self.dispatchEvent(new NotificationEvent("notificationclick",
                                                      {notification: shown[0]}));
           }""",
        payload,
    )

    assert wait_for(
        lambda: Delivery.objects.filter(pk=delivery.pk, clicked_at__isnull=False).exists(),
        timeout=10,
    ), json.dumps(payload)
