"""Serve the HTTP API and the annotation page.

The command lives in trompa_mer/commands/serve.py (also installed as trompa-mer-serve).
"""

import sys

from trompa_mer.interpreter import use_project_python

if __name__ == "__main__":
    use_project_python(__file__)  # the checkout's .venv, when this Python lacks the requirements
    from trompa_mer.commands.serve import main

    sys.exit(main())
