"""Pretrain the committee on DEAM or song-labelled features: one model per fold and model kind.

The command lives in trompa_mer/commands/deam_classifier.py (also installed as trompa-mer-deam-classifier).
"""

import sys

from trompa_mer.commands.deam_classifier import main

if __name__ == "__main__":
    sys.exit(main())
