"""`python -m contracts.schemas [DIR]`: regenerate the JSON Schema files.

Without DIR, rewrites the checked-in files next to this module.
"""

import sys
from pathlib import Path

from contracts.schemas import SCHEMA_DIR, write_all

target = Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_DIR
for path in write_all(target):
    print(path)
