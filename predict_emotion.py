"""Predict the emotion quadrant of a song's feature CSV, per window and for the song.

The command lives in trompa_mer/commands/predict_emotion.py (also installed as trompa-mer-predict-emotion).
"""

import sys

from trompa_mer.interpreter import use_project_python

if __name__ == "__main__":
    use_project_python(__file__)  # the checkout's .venv, when this Python lacks the requirements
    from trompa_mer.commands.predict_emotion import main

    sys.exit(main())
