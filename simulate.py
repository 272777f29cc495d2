"""Simulate personalization on labelled data: learning curves of every query strategy, per listener.

The command lives in trompa_mer/commands/simulate.py (also installed as trompa-mer-simulate).
"""

import sys

from trompa_mer.commands.simulate import main

if __name__ == "__main__":
    sys.exit(main())
