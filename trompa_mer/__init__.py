"""TROMPA-MER: personalized music emotion recognition with active learning."""
