"""Retrain a user's committee on their answers to the last query.

The command lives in trompa_mer/commands/retrain_model.py (also installed as trompa-mer-retrain-model).
"""

import sys

from trompa_mer.commands.retrain_model import main

if __name__ == "__main__":
    sys.exit(main())
