"""Make the repository's library/ and module_utils/ importable the way Ansible loads them.

Modules import shared code as ansible.module_utils.<name>; Ansible merges module_utils/ into that package at run time,
so the tests extend its __path__ the same way (house style §19).
"""

import sys
from pathlib import Path

import ansible.module_utils

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "library", ROOT / "filter_plugins"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
if str(ROOT / "module_utils") not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(str(ROOT / "module_utils"))
