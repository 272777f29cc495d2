# TROMPA-MER in a container. By default the image runs the HTTP service on port 8000 (it needs
# TPL_API_TOKEN); every script also runs as `docker run … trompa-mer python3 <script>.py …`.
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install --yes --no-install-recommends ffmpeg make \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /code
# The same install step `make` runs, from the same pinned requirements.
COPY requirements.txt requirements-no-deps.txt ./
RUN pip install --no-cache-dir -r requirements.txt \
    && pip install --no-cache-dir --no-deps -r requirements-no-deps.txt

COPY . .
RUN useradd --create-home --uid 1000 trompa \
    && mkdir -p /code/models/users /code/data \
    && chown -R trompa /code/models /code/data
USER trompa

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
CMD ["python3", "serve.py", "--host", "0.0.0.0", "--port", "8000"]
