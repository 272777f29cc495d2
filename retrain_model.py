"""Retrain a user's committee on their answers to the last query.

The command lives in trompa_mer/commands/retrain_model.py (also installed as trompa-mer-retrain-model).
"""

import sys

from trompa_mer.interpreter import use_project_python

if __name__ == "__main__":
    use_project_python(__file__)  # the checkout's .venv, when this Python lacks the requirements
    from trompa_mer.commands.retrain_model import main

    sys.exit(main())
