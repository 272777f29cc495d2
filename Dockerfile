# TROMPA-MER in a container: every script runs as `docker run … trompa-mer python3 <script>.py …`.
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install --yes --no-install-recommends ffmpeg make \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /code
# The same install step `make` runs, from the same pinned requirements.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
RUN useradd --create-home --uid 1000 trompa \
    && mkdir -p /code/models/users /code/data \
    && chown -R trompa /code/models /code/data
USER trompa

CMD ["sh", "-c", "for script in create_user extract_features predict_emotion get_hard_tracks retrain_model deam_classifier; do python3 $script.py --help; echo; done"]
