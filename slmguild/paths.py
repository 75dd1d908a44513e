"""Where slmguild keeps its data: models, knowledge stores, sessions.

Everything lives under one directory so that a user can see, back up or delete it:
`$SLMGUILD_HOME` when set, otherwise the platform's user data directory
(`~/.local/share/slmguild` on Linux).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def home() -> Path:
    """The slmguild data directory (not created here)."""
    configured = os.environ.get("SLMGUILD_HOME")
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_data_dir("slmguild", appauthor=False))


def models_dir() -> Path:
    """Where `slmguild models pull` unpacks model files: `$SLMGUILD_MODELS` when set
    (one copy of the weights shared by several data directories), else `models/` in `home()`."""
    configured = os.environ.get("SLMGUILD_MODELS")
    return Path(configured).expanduser() if configured else home() / "models"
