"""The settings the suite runs with: the project's, from the environment, in debug mode.

The suite runs against Redis (services mode), where the project requires a SECRET_KEY; a random
one per run is set in the environment, so the servers the browser tests start share it.
"""

import os
import secrets

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))

from config.settings import *  # noqa: E402,F403
