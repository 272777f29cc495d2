"""Import the original TROMPA-MER's models (xgboost 1.3.3 / scikit-learn 0.24.1 pickles) and users.

The command lives in trompa_mer/commands/import_legacy.py (also installed as trompa-mer-import-legacy).
"""

import sys

from trompa_mer.interpreter import use_project_python

if __name__ == "__main__":
    use_project_python(__file__)  # the checkout's .venv, when this Python lacks the requirements
    from trompa_mer.commands.import_legacy import main

    sys.exit(main())
