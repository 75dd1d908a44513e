"""Every test run, the example guild's scenario files included, writes its tickets,
knowledge stores and sessions into a scratch directory, never the user's own data
directory; the models the README's test command pulled are shared, not copied."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from slmguild.paths import models_dir

# slmguild's own plugin (opt-in for users, see docs/testing.md); pytester: the plugin is also
# tested in a project of its own.
pytest_plugins = ["pytester", "slmguild.scenarios.plugin"]
_SCRATCH = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("SLMGUILD_TEST_SCRATCH"):
        return  # a nested run (pytester) shares its parent's scratch directory
    scratch = tempfile.mkdtemp(prefix="slmguild-tests-")
    config.stash[_SCRATCH] = scratch
    os.environ.update({
        "SLMGUILD_TEST_SCRATCH": scratch,
        "SLMGUILD_MODELS": str(models_dir()),
        "SLMGUILD_HOME": os.path.join(scratch, "home"),
        "ACME_DB": os.path.join(scratch, "acme.sqlite"),
    })


def pytest_unconfigure(config: pytest.Config) -> None:
    if scratch := config.stash.get(_SCRATCH, None):
        shutil.rmtree(scratch, ignore_errors=True)
        for name in ("SLMGUILD_TEST_SCRATCH", "SLMGUILD_MODELS", "SLMGUILD_HOME", "ACME_DB"):
            os.environ.pop(name, None)
