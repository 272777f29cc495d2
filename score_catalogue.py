"""Score the catalogue: every pool song's member probabilities under a committee, once.

The command lives in trompa_mer/commands/score_catalogue.py (also installed as trompa-mer-score-catalogue).
"""

import sys

from trompa_mer.interpreter import use_project_python

if __name__ == "__main__":
    use_project_python(__file__)  # the checkout's .venv, when this Python lacks the requirements
    from trompa_mer.commands.score_catalogue import main

    sys.exit(main())
