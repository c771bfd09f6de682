"""Put the stand-in's packages (as the release lays them out) and tools/ on sys.path."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import standin_paths  # noqa: F401 - sets sys.path for the tests of this folder
