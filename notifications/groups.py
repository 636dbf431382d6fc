"""Channel-layer group names, in one place for senders and consumers."""


def user_group(user_id: int) -> str:
    return f"user.{user_id}"
