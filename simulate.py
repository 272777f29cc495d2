"""Simulate personalization on labelled data: learning curves of every query strategy, per listener.

The command lives in trompa_mer/commands/simulate.py (also installed as trompa-mer-simulate).
"""

import sys

from trompa_mer.interpreter import use_project_python

if __name__ == "__main__":
    use_project_python(__file__)  # the checkout's .venv, when this Python lacks the requirements
    from trompa_mer.commands.simulate import main

    sys.exit(main())
