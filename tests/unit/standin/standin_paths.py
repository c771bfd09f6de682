"""Where the stand-in lives, and its packages on sys.path as a release lays them out (a unique module name)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
STANDIN = ROOT / "standin"
PATHS = (
    STANDIN / "common",
    STANDIN / "components" / "app",
    STANDIN / "components" / "fep",
    STANDIN / "components" / "voice",
    ROOT / "tools",
)
for path in PATHS:
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
