"""Defaults of the library's sizes and timeouts that the commands' settings may override.

They live here, apart from the code that uses them, so that reading a default imports nothing: the
settings of every command need them, and the code they belong to pulls in sklearn and xgboost
(scoring) or the extraction stack.
"""

CHUNK_SONGS = 100
"""Songs scored at once per core: peak memory grows with this, not with the pool. Around 6,000
windows keeps GaussianNB's temporaries in cache; larger chunks are slower, not faster
(trompa_mer/learning/scoring.py)."""
DASK_CONNECT_SECONDS = 10.0
"""How long a batch waits for a Dask scheduler to answer, unless told otherwise."""
