"""The monitor specs the tests run with: copies of ``deployments/specs`` with the staged
rollout off.

The demo's credit spec turns ``ab.staged_rollout`` on (``modelwatch demo`` shows shadow →
canary → promoted), so there an offline win enters the shadow stage instead of being
promoted. Most flow tests are about the retraining branch itself (promotion, rollback,
events, locks), so they run with a copy that promotes at once; the staged rollout has
its own tests (tests/flows/test_rollout.py, tests/flows/test_demo.py), which pin their
policy in their own spec copies. ``tests/conftest.py`` points ``MODELWATCH_SPECS_DIR``
here for the session.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SHIPPED_SPECS_DIR = REPO / "deployments" / "specs"


def _pinned() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="modelwatch-test-specs-"))
    for source in sorted(SHIPPED_SPECS_DIR.glob("*.yaml")):
        data = yaml.safe_load(source.read_text())
        data.setdefault("ab", {})["staged_rollout"] = False
        (folder / source.name).write_text(yaml.safe_dump(data, sort_keys=False))
    return folder


#: one folder per test process (each xdist worker builds its own at import)
TEST_SPECS_DIR = Path(os.environ.get("MODELWATCH_TEST_SPECS_DIR") or _pinned())
os.environ["MODELWATCH_TEST_SPECS_DIR"] = str(TEST_SPECS_DIR)


def spec_path(name: str) -> Path:
    """The test copy of ``deployments/specs/<name>.yaml`` (staged rollout off)."""
    return TEST_SPECS_DIR / f"{name}.yaml"
