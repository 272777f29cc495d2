"""Write a synthetic DEAM-format corpus: numpy-rendered music with dynamic valence/arousal labels.

The command lives in trompa_mer/commands/make_synthetic_deam.py
(also installed as trompa-mer-make-synthetic-deam).
"""

import sys

from trompa_mer.interpreter import use_project_python

if __name__ == "__main__":
    use_project_python(__file__)  # the checkout's .venv, when this Python lacks the requirements
    from trompa_mer.commands.make_synthetic_deam import main

    sys.exit(main())
