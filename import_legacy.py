"""Import the original TROMPA-MER's models (xgboost 1.3.3 / scikit-learn 0.24.1 pickles) and users.

The command lives in trompa_mer/commands/import_legacy.py (also installed as trompa-mer-import-legacy).
"""

import sys

from trompa_mer.commands.import_legacy import main

if __name__ == "__main__":
    sys.exit(main())
