"""DEAM's folder layout as distributed: where its audio and dynamic annotations lie in a DEAM folder.

The DEAM reader (deam.py) reads this layout; the synthetic corpus (synth.py) writes it.
"""

from pathlib import Path

AUDIO_DIR = Path("DEAM_audio", "MEMD_audio")
"""Excerpts `<song_id>.wav`, relative to the corpus folder (DEAM's layout)."""

DYNAMIC_DIR = Path(
    "DEAM_Annotations", "annotations", "annotations averaged per song",
    "dynamic (per second annotations)",
)
"""`arousal.csv` and `valence.csv`, relative to the corpus folder (DEAM's layout)."""
