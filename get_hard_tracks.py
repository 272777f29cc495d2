"""Query: the songs of the pool the user should annotate next, chosen by their query strategy.

The command lives in trompa_mer/commands/get_hard_tracks.py (also installed as trompa-mer-get-hard-tracks).
"""

import sys

from trompa_mer.interpreter import use_project_python

if __name__ == "__main__":
    use_project_python(__file__)  # the checkout's .venv, when this Python lacks the requirements
    from trompa_mer.commands.get_hard_tracks import main

    sys.exit(main())
