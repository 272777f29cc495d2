"""Write a synthetic DEAM-format corpus: numpy-rendered music with dynamic valence/arousal labels.

The command lives in trompa_mer/commands/make_synthetic_deam.py
(also installed as trompa-mer-make-synthetic-deam).
"""

import sys

from trompa_mer.commands.make_synthetic_deam import main

if __name__ == "__main__":
    sys.exit(main())
