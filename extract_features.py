"""Extract openSMILE IS13_ComParE window features from audio into `;`-separated CSVs.

The command lives in trompa_mer/commands/extract_features.py (also installed as trompa-mer-extract-features).
"""

import sys

from trompa_mer.interpreter import use_project_python

if __name__ == "__main__":
    use_project_python(__file__)  # the checkout's .venv, when this Python lacks the requirements
    from trompa_mer.commands.extract_features import main

    sys.exit(main())
