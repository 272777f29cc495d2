"""Pretrain the committee on DEAM or song-labelled features: one model per fold and model kind.

The command lives in trompa_mer/commands/deam_classifier.py (also installed as trompa-mer-deam-classifier).
"""

import sys

from trompa_mer.interpreter import use_project_python

if __name__ == "__main__":
    use_project_python(__file__)  # the checkout's .venv, when this Python lacks the requirements
    from trompa_mer.commands.deam_classifier import main

    sys.exit(main())
