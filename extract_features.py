"""Extract openSMILE IS13_ComParE window features from audio into `;`-separated CSVs.

The command lives in trompa_mer/commands/extract_features.py (also installed as trompa-mer-extract-features).
"""

import sys

from trompa_mer.commands.extract_features import main

if __name__ == "__main__":
    sys.exit(main())
