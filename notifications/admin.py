from notifications.delivery import admin as delivery_admin  # noqa: F401  (Delivery, ApiKey)
