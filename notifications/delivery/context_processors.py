from notifications.delivery import vapid


def webpush(request):
    """``VAPID_PUBLIC_KEY`` for the page script that subscribes the browser to web push."""
    return {"VAPID_PUBLIC_KEY": vapid.public_key()}
