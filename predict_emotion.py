"""Predict the emotion quadrant of a song's feature CSV, per window and for the song.

The command lives in trompa_mer/commands/predict_emotion.py (also installed as trompa-mer-predict-emotion).
"""

import sys

from trompa_mer.commands.predict_emotion import main

if __name__ == "__main__":
    sys.exit(main())
