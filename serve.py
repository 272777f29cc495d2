"""Serve the HTTP API and the annotation page.

The command lives in trompa_mer/commands/serve.py (also installed as trompa-mer-serve).
"""

import sys

from trompa_mer.commands.serve import main

if __name__ == "__main__":
    sys.exit(main())
