"""The HTTP service through a real serve.py process and a real HTTP client (tests/service_server.py)."""

import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest

from tests import service_server
from tests.conftest import ROOT, error_line, run_script
from tests.signals import progression, write_wav
from trompa_mer import storage
from trompa_mer.committee import files as committees
from trompa_mer.committee.shift import SHIFT_FILE
from trompa_mer.features import audio
from trompa_mer.service import connections
from trompa_mer.users import tokens


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[service_server.Server]:
    with service_server.start(tmp_path_factory.mktemp("service")) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: service_server.Server) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http


def refused(response: httpx.Response, status: int) -> str:
    """The one-line error of a refused request, after checking its status and JSON shape."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str)
    assert body["error"].strip() and "\n" not in body["error"]
    return body["error"]


def new_user(client: httpx.Client, user_id: str, **fields: str) -> dict:
    response = client.post("/users", json={"user_id": user_id, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def ask(client: httpx.Client, user_id: str, n: int, **fields: object) -> list[str]:
    response = client.post(f"/users/{user_id}/queries", json={"n": n, **fields})
    assert response.status_code == 200, response.text
    return [song["song_id"] for song in response.json()["songs"]]


def answers(server: service_server.Server, songs: list[str]) -> dict:
    return {"annotations": {song: server.truth[song] for song in songs}}


def raw_get(server: service_server.Server, path: str, token: str | None = None) -> tuple[int, bytes]:
    """GET `path` sent byte for byte (no client normalising dots or escapes): status and body."""
    parts = urlsplit(server.url)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as conn:
        request = f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{auth}Connection: close\r\n\r\n"
        conn.sendall(request.encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_health_is_open_and_every_other_path_needs_a_valid_token(server: service_server.Server) -> None:
    assert httpx.get(server.url + "/health").json() == {"status": "ok"}
    calls = [("GET", "/users/827"), ("POST", "/users"), ("DELETE", "/users/827"),
             ("POST", "/users/827/queries"), ("POST", "/users/827/annotations"),
             ("GET", "/users/827/recommendations?quadrant=Q1"), ("POST", "/predict"),
             ("GET", "/audio/song_02")]
    bad_headers = [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {server.token}"},
                   {"Authorization": f"Bearer {server.token}x"}, {"Authorization": "Bearer"}]
    for method, path in calls:
        for headers in bad_headers:
            response = httpx.request(method, server.url + path, headers=headers)
            assert "token" in refused(response, 401)
            assert response.headers["www-authenticate"] == "Bearer"
    # Either token of TPL_API_TOKEN works; the audio needs one too.
    other = {"Authorization": f"Bearer {service_server.OTHER_TOKEN}"}
    assert httpx.get(server.url + "/audio/song_02", headers=other).status_code == 200
    # The API's documentation is public, and says how to authenticate.
    schema = httpx.get(server.url + "/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    documented = {"/users", "/users/{user_id}/recommendations", "/predict", "/audio/{song_id}"}
    assert documented <= set(schema["paths"])
    refused(httpx.get(server.url + "/docs", headers=server.headers), 404)  # its page loads a CDN's scripts
    # A path that only starts like the page's is not public.
    status, body = raw_get(server, "/annotate/../users/827")
    assert status == 401 and b"token" in body


def test_the_whole_loop(server: service_server.Server, client: httpx.Client) -> None:
    created = new_user(client, "827")
    assert created == {"user_id": "827", "iteration": 0, "strategy": "mc", "update_rule": "shift",
                       "pending": False, "queried": [], "answered_count": 0}
    first = client.post("/users/827/queries", json={"n": 4}).json()
    assert first["iteration"] == 0 and first["strategy"] == "mc" and len(first["songs"]) == 4
    assert first["warnings"] == []
    scores = [song["score"] for song in first["songs"]]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
    songs = [song["song_id"] for song in first["songs"]]
    state = client.get("/users/827").json()
    assert state["pending"] and state["queried"] == songs and state["answered_count"] == 0

    retrained = client.post("/users/827/annotations", json=answers(server, songs))
    assert retrained.status_code == 200 and retrained.json()["iteration"] == 1
    changed = retrained.json()["changed"]  # what the answers changed, over the whole pool
    assert changed["pool_songs"] == len(server.truth) and changed["layer_moved"] is None
    assert changed["shift_moved"] > 0
    assert 0 <= changed["songs_changed"] <= len(server.truth)
    folder = server.root / "models" / "users" / "827"
    history = [json.loads(line) for line in (folder / "annotations.jsonl").read_text().splitlines()]
    assert history[0]["labels"] == {song: server.truth[song] for song in songs}
    assert (folder / SHIFT_FILE).is_file()  # the shift rule (the default) refitted the user's shift
    assert not (folder / committees.LAYER_FILE).exists()
    state = client.get("/users/827").json()
    assert not state["pending"] and state["iteration"] == 1 and state["answered_count"] == 4

    second = ask(client, "827", 3)
    assert len(second) == 3 and not set(second) & set(songs)
    assert client.post("/users/827/queries", json={"n": 3, "requery": True}).json()["iteration"] == 1
    assert len(client.post("/users/827/queries", json={"requery": True}).json()["songs"]) == 10
    refused(client.post("/users/827/queries"), 409)  # without a body: the defaults; one is pending
    assert len(client.get("/users/827").json()["queried"]) == 10

    ranked = client.get("/users/827/recommendations", params={"quadrant": "q4", "n": 5})
    assert ranked.status_code == 200
    found = ranked.json()
    assert found["quadrant"] == "Q4" and len(found["songs"]) == 5
    probabilities = [song["probability"] for song in found["songs"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0 <= probabilities[-1] <= probabilities[0] <= 1
    # A recommended song's probability is what /predict with the user's committee says of its CSV.
    top = found["songs"][0]["song_id"]
    csv = server.root / "data" / "feats" / f"{top}.csv"
    predicted = client.post("/predict", files={"file": (csv.name, csv.read_bytes())}, data={"user_id": "827"})
    assert predicted.status_code == 200, predicted.text
    assert predicted.json()["model"] == "user:827"
    assert predicted.json()["mean_probs"][3] == pytest.approx(probabilities[0], abs=1e-6)
    assert predicted.json()["crowd"]["answers"] == 0  # nobody else answered: the committee as it is
    answered = client.post("/predict", files={"file": (f"{songs[0]}.csv", b"")}, data={"user_id": "827"})
    assert answered.status_code == 400  # an empty CSV is still refused, answered or not
    csv = server.root / "data" / "feats" / f"{songs[0]}.csv"
    own = client.post("/predict", files={"file": (csv.name, csv.read_bytes())},
                      data={"user_id": "827", "crowd": "false"}).json()
    assert own["own_answer"] == server.truth[songs[0]] and own["crowd"] is None
    assert own["highest_prob_quad"] == server.truth[songs[0]] and max(own["mean_probs"]) == 1.0
    everything = client.get("/users/827/recommendations", params={"quadrant": "Q4", "n": 1000}).json()
    assert len(everything["songs"]) == len(server.truth)  # every pool song, ranked

    assert client.delete("/users/827").status_code == 204
    assert not folder.exists()
    assert "unknown user" in refused(client.get("/users/827"), 404)


def test_predict_answers_what_predict_emotion_writes(server: service_server.Server, client: httpx.Client,
                                                     tmp_path: Path) -> None:
    env = {"TPL_PRETRAINED_DIRECTORY": str(server.root / "pretrained")}
    csv = server.root / "data" / "feats" / "song_05.csv"
    wav = write_wav(tmp_path / "chords.wav", progression(seconds_per_chord=1.0))
    extracted = tmp_path / "chords.csv"
    run_script("extract_features.py", "-i", wav, "-o", extracted, env=env, check=True)
    for upload, features in [(csv, csv), (wav, extracted)]:
        response = client.post("/predict", files={"file": (upload.name, upload.read_bytes())})
        assert response.status_code == 200, response.text
        result = response.json()
        run_script("predict_emotion.py", "-i", features, "-o", tmp_path / "cli.json", "-m", "default",
                   env=env, check=True)
        expected = json.loads((tmp_path / "cli.json").read_text())
        assert result["input_feats"] == upload.name and result["model"] == "default:classifier_xgb.it_0.pkl"
        assert result["highest_prob_quad"] == expected["highest_prob_quad"]
        assert np.allclose(result["output_probs"], expected["output_probs"], atol=1e-6)
    assert len(result["output_probs"]) >= 6  # the 4 s of chords, in 1 s windows every 0.5 s
    assert not list((server.root / "tmp").iterdir())  # uploads are cleaned up


def test_every_refusal_is_a_4xx_with_one_error_line(server: service_server.Server,
                                                    client: httpx.Client) -> None:
    for bad in ["a b", "x" * 65, "ünï", "a.b"]:
        assert "invalid user id" in refused(client.post("/users", json={"user_id": bad}), 400)
    assert "invalid user id" in refused(client.get("/users/a.b"), 400)
    refused(client.post("/users", json={"user_id": "5", "strategy": "best"}), 400)
    # this server has no crowd file: hc is refused when the user is created, not at their first query
    no_crowd = refused(client.post("/users", json={"user_id": "6", "strategy": "hc"}), 400)
    assert "needs crowd annotations" in no_crowd and "choose another strategy" in no_crowd
    refused(client.get("/users/6"), 404)
    assert "update_rule" in refused(client.post("/users", json={"user_id": "5", "update_rule": "best"}), 400)
    refused(client.post("/users", json={}), 400)
    refused(client.post("/users", content=b"{not json", headers={"Content-Type": "application/json"}), 400)
    new_user(client, "5")
    assert "already exists" in refused(client.post("/users", json={"user_id": "5"}), 409)
    for call in [client.get("/users/nobody"), client.delete("/users/nobody"),
                 client.post("/users/nobody/queries", json={"n": 2}),
                 client.post("/users/nobody/annotations", json={"annotations": {"song_00": "Q1"}}),
                 client.get("/users/nobody/recommendations", params={"quadrant": "Q1"})]:
        message = refused(call, 404)
        assert "unknown user nobody: no folder <users>/nobody" in message and str(server.root) not in message
        assert message.endswith("create the user first (POST /users)") and ".py" not in message
    assert "no pending query" in refused(client.post("/users/5/annotations",
                                                     json={"annotations": {"song_00": "Q1"}}), 409)
    refused(client.post("/users/5/queries", json={"n": 0}), 400)
    too_many = refused(client.post("/users/5/queries", json={"n": 1000}), 400)
    assert "more than the" in too_many and '("n")' in too_many and "-q" not in too_many
    refused(client.post("/users/5/queries", json={"n": 2, "strategy": "best"}), 400)
    songs = ask(client, "5", 2)
    pending = refused(client.post("/users/5/queries", json={"n": 2}), 409)
    assert "waiting for annotations" in pending and '"requery": true' in pending and "--" not in pending
    wrong = [{song: "Q1" for song in [songs[0], "song_99" if songs[0] != "song_99" else "song_98"]},
             {songs[0]: "Q1"}, {songs[0]: "Q1", songs[1]: "Q5"}, {songs[0]: "Q1", songs[1]: 3}, {}]
    for annotations in wrong:
        refused(client.post("/users/5/annotations", json={"annotations": annotations}), 400)
    refused(client.post("/users/5/annotations", json={"labels": {}}), 400)
    assert client.get("/users/5").json()["pending"]  # nothing above changed the user
    assert ask(client, "5", 2, requery=True)  # --requery replaces the pending query
    refused(client.get("/users/5/recommendations", params={"quadrant": "Q5"}), 400)
    refused(client.get("/users/5/recommendations", params={"quadrant": "Q1", "n": 0}), 400)
    refused(client.get("/users/5/recommendations"), 400)

    uploads = [("notes.txt", b"hello"), ("song.csv", b"frameTime;x\n0;1\n"), ("song.csv", b""),
               ("song.csv", bytes(range(256)) * 8), ("song.wav", b"RIFF\x00\x00garbage"),
               ("song.mp3", b"\xff\xfb not really mp3")]
    for name, content in uploads:
        message = refused(client.post("/predict", files={"file": (name, content)}), 400)
        assert str(server.root) not in message and "trompa-upload" not in message
    assert not list((server.root / "tmp").iterdir())
    refused(client.post("/predict", data={"user_id": "5"}), 400)
    csv = server.root / "data" / "feats" / "song_00.csv"
    refused(client.post("/predict", files={"file": (csv.name, csv.read_bytes())}, data={"user_id": "nobody"}),
            404)
    refused(client.post("/predict", files={"file": (csv.name, csv.read_bytes())}, data={"user_id": "a b"}),
            400)


def test_an_upload_over_the_limit_is_refused(tmp_path: Path) -> None:
    with service_server.start(tmp_path, env=service_server.environment(tmp_path, TPL_MAX_UPLOAD_MB="0.01")) \
            as small, small.client() as client:
        csv = small.root / "data" / "feats" / "song_00.csv"
        assert len(csv.read_bytes()) > 0.01 * 1024 * 1024
        refused(client.post("/predict", files={"file": (csv.name, csv.read_bytes())}), 413)
        assert client.post("/predict", files={"file": ("s.csv", csv.read_bytes()[:5000])}).status_code == 400
        # Sent in chunks, without a Content-Length, it is counted as it comes.
        body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.csv\"\r\n\r\n"
                + csv.read_bytes() + b"\r\n--b--\r\n")
        chunked = client.post("/predict", content=iter([body[i:i + 4096] for i in range(0, len(body), 4096)]),
                              headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert "content-length" not in chunked.request.headers
        refused(chunked, 413)
        # Any other body is limited to 1 MiB.
        huge = json.dumps({"user_id": "x" * (1 << 20)}).encode()
        refused(client.post("/users", content=huge, headers={"Content-Type": "application/json"}), 413)


def test_a_user_held_by_another_command_is_a_409_not_a_wait(server: service_server.Server,
                                                           client: httpx.Client) -> None:
    new_user(client, "held")
    songs = ask(client, "held", 2)
    folder = server.root / "models" / "users" / "held"
    with storage.folder_lock(folder):  # as a retrain_model.py run would hold it
        started = time.monotonic()
        assert "busy" in refused(client.post("/users/held/annotations", json=answers(server, songs)), 409)
        assert "busy" in refused(client.post("/users/held/queries", json={"n": 2, "requery": True}), 409)
        assert "busy" in refused(client.delete("/users/held"), 409)
        assert time.monotonic() - started < 10
    assert client.post("/users/held/annotations", json=answers(server, songs)).json()["iteration"] == 1


def test_two_concurrent_retrains_of_one_user_give_one_409(server: service_server.Server,
                                                          client: httpx.Client) -> None:
    # The original rule retrains every member (100 more xgb rounds): slow enough to overlap.
    new_user(client, "twice", update_rule="original")
    songs = ask(client, "twice", 4)
    folder = server.root / "models" / "users" / "twice"
    before = {path.name: path.read_bytes() for path in committees.member_paths(folder)}
    barrier = threading.Barrier(2)
    results: list[httpx.Response] = []

    def retrain() -> None:
        with server.client() as own:
            barrier.wait()
            results.append(own.post("/users/twice/annotations", json=answers(server, songs)))

    threads = [threading.Thread(target=retrain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
    assert next(r for r in results if r.status_code == 200).json()["iteration"] == 1
    state = client.get("/users/twice").json()
    assert state["iteration"] == 1 and not state["pending"] and state["answered_count"] == 4
    assert len((folder / "annotations.jsonl").read_text().splitlines()) == 1
    after = {path.name: path.read_bytes() for path in committees.member_paths(folder)}
    assert after.keys() == before.keys() and all(after[name] != before[name] for name in before)
    assert not (folder / storage.STAGING_NAME).exists()
    committees.load_committee(folder)


def test_several_users_retrain_at_once_while_health_answers(server: service_server.Server,
                                                            client: httpx.Client) -> None:
    users = [f"crowd{i}" for i in range(3)]
    asked = {}
    for user_id in users:
        new_user(client, user_id, update_rule="original")
        asked[user_id] = ask(client, user_id, 4)
    results: dict[str, httpx.Response] = {}
    health: list[float] = []

    def retrain(user_id: str) -> None:
        with server.client() as own:
            results[user_id] = own.post(f"/users/{user_id}/annotations", json=answers(server, asked[user_id]))

    threads = [threading.Thread(target=retrain, args=(user_id,)) for user_id in users]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        started = time.monotonic()
        assert httpx.get(server.url + "/health", timeout=30).status_code == 200
        health.append(time.monotonic() - started)
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    assert {user_id: r.status_code for user_id, r in results.items()} == dict.fromkeys(users, 200)
    assert all(client.get(f"/users/{user_id}").json()["iteration"] == 1 for user_id in users)
    assert health and max(health) < 2.0, health


def test_health_answers_while_an_upload_is_analysed(server: service_server.Server, tmp_path: Path) -> None:
    """Feature extraction of a 30 s upload takes seconds; it runs off the event loop."""
    wav = write_wav(tmp_path / "long.wav", progression(seconds_per_chord=7.5))
    done: dict[str, object] = {}

    def predict() -> None:
        with server.client() as own:
            started = time.monotonic()
            done["response"] = own.post("/predict", files={"file": (wav.name, wav.read_bytes())})
            done["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=predict)
    thread.start()
    health = []
    with httpx.Client(base_url=server.url, timeout=60) as http:
        while thread.is_alive():
            started = time.monotonic()
            assert http.get("/health").status_code == 200
            health.append(time.monotonic() - started)
            time.sleep(0.05)
    thread.join()
    assert done["response"].status_code == 200 and len(done["response"].json()["output_probs"]) > 50
    assert len(health) > 3 and max(health) < done["seconds"] / 3, (health, done["seconds"])


def test_keep_alive_answers_do_not_wait_for_delayed_acks(server: service_server.Server) -> None:
    """A response's head and body go out in two writes; without TCP_NODELAY the second waited for
    the client's delayed ACK, ~40 ms on every request of a kept-alive connection."""
    with httpx.Client(base_url=server.url) as http:
        latencies = []
        for _ in range(30):
            started = time.perf_counter()
            assert http.get("/health").status_code == 200
            latencies.append(time.perf_counter() - started)
    assert sorted(latencies)[len(latencies) // 2] < 0.02, latencies


def test_audio_is_served_with_ranges_and_only_from_its_folder(server: service_server.Server,
                                                              client: httpx.Client) -> None:
    audio = server.root / "audio"
    whole = client.get("/audio/song_05")
    assert whole.status_code == 200 and whole.content == (audio / "song_05.wav").read_bytes()
    assert whole.headers["content-type"] in {"audio/x-wav", "audio/wav"}
    part = client.get("/audio/song_05", headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == (audio / "song_05.wav").read_bytes()[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{(audio / 'song_05.wav').stat().st_size}"
    # Ids are the lower-cased stems, in subfolders too; the id's case does not matter.
    for song_id, path in [("song_00", "album/song_00.wav"), ("song_01", "album/SONG_01.WAV"),
                          ("SONG_01", "album/SONG_01.WAV")]:
        assert client.get(f"/audio/{song_id}").content == (audio / path).read_bytes()
    assert "no audio" in refused(client.get("/audio/song_99"), 404)
    assert refused(client.get("/audio/leak"), 404)  # a symlink out of the folder
    secret = service_server.SECRET.encode()
    attempts = ["/audio/..%2Fsecret.txt", "/audio/..%2fsecret", "/audio/%2E%2E%2Fsecret.txt",
                "/audio/..%252Fsecret.txt", "/audio/../secret.txt", "/audio/..", "/audio/.%2E",
                "/audio/%2Fetc%2Fpasswd", "/audio//etc/passwd", f"/audio/{server.root}/secret.txt",
                f"/audio/{str(server.root / 'secret').replace('/', '%2F')}", "/audio/secret",
                "/audio/%00", "/audio/song_05%00.txt", "/audio/.leak"]
    for path in attempts:
        status, body = raw_get(server, path, server.token)
        assert status in {400, 404}, (path, status)
        assert secret not in body and b"root:" not in body, path


def test_the_server_refuses_to_start_unprotected(tmp_path: Path) -> None:
    no_token = service_server.environment(tmp_path, TPL_API_TOKEN=" , ")
    cases = [(["--host", "127.0.0.1", "--port", "0"], no_token, "TPL_API_TOKEN"),
             (["--host", "0.0.0.0", "--port", "0", "--no-auth"], service_server.environment(tmp_path),
              "--no-auth"),
             (["--host", "192.0.2.1", "--port", "0", "--no-auth"], no_token, "--no-auth"),
             (["--port", "70000"], service_server.environment(tmp_path), "--port")]
    for args, env, named in cases:
        result = subprocess.run([sys.executable, str(ROOT / "serve.py"), *args], env=env, capture_output=True,
                                text=True, timeout=60)
        assert named in error_line(result), result.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, str(ROOT / "serve.py"), "--port", str(port)],
                                env=service_server.environment(tmp_path), capture_output=True, text=True,
                                timeout=60)
        assert f"cannot listen on 127.0.0.1:{port}" in error_line(result)


def test_no_auth_on_loopback_and_no_audio_folder(tmp_path: Path) -> None:
    platform = "https://platform.example"
    env = service_server.environment(tmp_path, TPL_API_TOKEN="", TPL_AUDIO_DIRECTORY="",
                                     TPL_CORS_ORIGINS=platform)
    with service_server.start(tmp_path, "--no-auth", env=env) as open_server:
        url = open_server.url
        assert "unknown user" in refused(httpx.get(url + "/users/nobody"), 404)
        assert "no audio" in refused(httpx.get(url + "/audio/song_05"), 404)
        # DNS rebinding: a page of rebind.attacker.example whose name now resolves to 127.0.0.1.
        rebound = {"Host": "rebind.attacker.example"}
        for method, path in [("GET", "/users/nobody"), ("POST", "/users"), ("DELETE", "/users/x"),
                             ("GET", "/health")]:
            message = refused(httpx.request(method, url + path, headers=rebound, json={"user_id": "x"}), 421)
            assert "rebind.attacker.example" in message
        named = {"Host": f"localhost:{urlsplit(url).port}"}
        assert httpx.get(url + "/health", headers=named).status_code == 200
        # A form of another site posting here (a simple request: no preflight, no CORS needed).
        form = {"Origin": "https://evil.example", "Content-Type": "application/x-www-form-urlencoded"}
        posted = httpx.post(url + "/users/x/queries", headers=form, content=b"a=1")
        assert "evil.example" in refused(posted, 403)
        assert not (open_server.root / "models" / "users" / "x").exists()
        own = httpx.post(url + "/users", json={"user_id": "x"}, headers={"Origin": url})
        assert own.status_code == 201 and "access-control-allow-origin" not in own.headers
        # The configured origin may call, preflight included.
        preflight = httpx.options(url + "/users/x", headers={
            "Origin": platform, "Access-Control-Request-Method": "DELETE",
            "Access-Control-Request-Headers": "authorization"})
        assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == platform
        state = httpx.get(url + "/users/x", headers={"Origin": platform})
        assert state.status_code == 200 and state.headers["access-control-allow-origin"] == platform
    assert "no authentication" in open_server.log.read_text()


def test_with_tokens_any_host_is_answered_but_no_other_sites_page(server: service_server.Server,
                                                                   client: httpx.Client) -> None:
    assert client.get("/health", headers={"Host": "mer.example.org"}).status_code == 200
    assert "evil.example" in refused(client.post("/users", json={"user_id": "csrf"},
                                                 headers={"Origin": "https://evil.example"}), 403)
    refused(client.get("/users/csrf"), 404)
    assert "access-control-allow-origin" not in client.get("/health", headers={"Origin": "https://evil.example"}
                                                           ).headers


def test_no_request_makes_a_500_that_blames_nobody(server: service_server.Server, client: httpx.Client,
                                                    tmp_path: Path) -> None:
    # A lone surrogate as a song id: the refusal naming it can still be written as JSON.
    body = b'{"annotations": {"\\ud800": "Q9"}}'
    message = refused(client.post("/users/nobody/annotations", content=body,
                                  headers={"Content-Type": "application/json"}), 400)
    assert "\\ud800" in message
    # A wav whose fmt chunk claims more bytes than the file has (`wave` raised a bare RuntimeError).
    wav = bytearray(write_wav(tmp_path / "liar.wav", progression(seconds_per_chord=0.5)).read_bytes())
    wav[16:20] = (0xFFFFFF00).to_bytes(4, "little")
    assert "cannot decode" in refused(client.post("/predict", files={"file": ("liar.wav", bytes(wav))}), 400)
    # A failure on the server (its pool cache folder replaced by a file) is a 500 that names nothing
    # of the server, with its traceback in the log.
    cache = server.root / "data" / "pool_cache"
    new_user(client, "unlucky")
    assert ask(client, "unlucky", 2)
    cache.rename(cache.with_name("pool_cache.aside"))
    try:
        cache.write_text("not a folder")
        assert refused(client.post("/users/unlucky/queries", json={"n": 2, "requery": True}), 500) == \
            "internal error: see the server's log"
    finally:
        cache.unlink()
        cache.with_name("pool_cache.aside").rename(cache)
    log = server.log.read_text()
    assert "Traceback" in log and "FileExistsError" in log
    assert ask(client, "unlucky", 2, requery=True)


def test_range_errors_are_json_and_head_works_where_get_does(server: service_server.Server,
                                                             client: httpx.Client) -> None:
    size = (server.root / "audio" / "song_05.wav").stat().st_size
    beyond = client.get("/audio/song_05", headers={"Range": f"bytes={size + 10}-"})
    assert "range" in refused(beyond, 416)
    assert beyond.headers["content-range"] == f"bytes */{size}"
    assert "range" in refused(client.get("/audio/song_05", headers={"Range": "bytes=20-10"}), 400).lower()
    assert "range" in refused(client.get("/audio/song_05", headers={"Range": "songs=1-2"}), 400).lower()
    head = client.head("/audio/song_05")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == size and head.headers["accept-ranges"] == "bytes"
    assert client.head("/audio/song_99").status_code == 404
    assert httpx.head(server.url + "/health").status_code == 200
    assert httpx.head(server.url + "/annotate/827").headers["content-type"].startswith("text/html")
    assert httpx.head(server.url + "/users/827").status_code == 401
    new_user(client, "headed")
    got = client.get("/users/headed")
    head = client.head("/users/headed")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(got.content))
    assert "not allowed" in refused(client.request("PUT", "/users/headed"), 405).lower()


def test_an_unreadable_feature_csv_is_left_out_with_a_warning(server: service_server.Server,
                                                              client: httpx.Client) -> None:
    feats = server.root / "data" / "feats"
    whole = (feats / "song_03.csv").read_text()
    broken = {"copying": "", "halfway": whole[: len(whole) // 3]}  # a copy in progress, twice
    for song, text in broken.items():
        (feats / f"{song}.csv").write_text(text)
    try:
        new_user(client, "warned")
        query = client.post("/users/warned/queries", json={"n": 3})
        assert query.status_code == 200, query.text
        warnings = query.json()["warnings"]
        assert len(warnings) == 2 and all(str(server.root) not in warning for warning in warnings)
        assert "copying" in warnings[0] and "halfway" in warnings[1] and "<features>" in warnings[0]
        assert not {"copying", "halfway"} & {song["song_id"] for song in query.json()["songs"]}
        ranked = client.get("/users/warned/recommendations", params={"quadrant": "Q1", "n": 100})
        assert ranked.status_code == 200, ranked.text
        assert len(ranked.json()["songs"]) == len(server.truth) and len(ranked.json()["warnings"]) == 2
        assert "song copying is left out" in server.log.read_text()
        (feats / "copying.csv").write_text(whole)  # the copy has finished: the song is in the pool
        ranked = client.get("/users/warned/recommendations", params={"quadrant": "Q1", "n": 100}).json()
        assert len(ranked["songs"]) == len(server.truth) + 1 and len(ranked["warnings"]) == 1
    finally:
        for song in broken:
            (feats / f"{song}.csv").unlink()


def test_a_listener_token_opens_its_users_loop_and_nothing_else(server: service_server.Server,
                                                                client: httpx.Client) -> None:
    new_user(client, "alice")
    new_user(client, "bob")
    minted = client.post("/users/alice/tokens", json={"days": 7})
    assert minted.status_code == 201, minted.text
    token, token_id = minted.json()["token"], minted.json()["token_id"]
    assert minted.json()["link"] == f"/annotate/alice#token={token}" and len(token) > 40
    stored = (server.root / "models" / "users" / "alice" / tokens.TOKENS_FILE).read_text()
    assert token not in stored and hashlib.sha256(token.encode()).hexdigest() in stored
    alice = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=120)
    with alice:
        outside = [("GET", "/users/bob"), ("DELETE", "/users/bob"), ("DELETE", "/users/alice"),
                   ("POST", "/users"), ("POST", "/predict"), ("POST", "/users/alice/tokens"),
                   ("DELETE", f"/users/alice/tokens/{token_id}"), ("POST", "/users/bob/queries"),
                   ("GET", "/users/bob/recommendations?quadrant=Q1"), ("HEAD", "/users/bob"),
                   ("GET", "/users/alice/../bob")]
        for method, path in outside:
            response = alice.request(method, path, json={"user_id": "carol"} if path == "/users" else None)
            assert response.status_code == 403, (method, path, response.status_code)
            if method != "HEAD":
                assert "listener token of user alice" in refused(response, 403)
        assert client.get("/users/bob").status_code == 200 and client.get("/users/carol").status_code == 404
        # alice's own loop, the audio of the songs she is asked about included
        assert alice.get("/users/alice").json()["pending"] is False
        songs = ask(alice, "alice", 2)
        other = next(song for song in sorted(server.truth) if song not in songs)
        assert alice.get(f"/audio/{songs[0]}").content == client.get(f"/audio/{songs[0]}").content
        assert alice.head(f"/audio/{songs[1].upper()}").status_code == 200
        assert "never asked" in refused(alice.get(f"/audio/{other}"), 403)
        assert alice.post("/users/alice/annotations", json=answers(server, songs)).json()["iteration"] == 1
        assert alice.get(f"/audio/{songs[0]}").status_code == 200  # answered: still hers
        assert alice.get("/users/alice/recommendations", params={"quadrant": "Q2"}).status_code == 200
        # Revoked, the token opens nothing; nor does one with bob's name and alice's secret.
        assert client.delete(f"/users/alice/tokens/{token_id}").status_code == 204
        refused(alice.get("/users/alice"), 401)
        assert "no listener token" in refused(client.delete(f"/users/alice/tokens/{token_id}"), 404)
        forged = "bob." + token.partition(".")[2]
        refused(httpx.get(server.url + "/users/bob", headers={"Authorization": f"Bearer {forged}"}), 401)
    # A token expires.
    brief = client.post("/users/alice/tokens", json={"days": 1 / 86400}).json()["token"]
    time.sleep(1.5)
    refused(httpx.get(server.url + "/users/alice", headers={"Authorization": f"Bearer {brief}"}), 401)
    for days in (0, -1, 1000, "soon"):
        refused(client.post("/users/alice/tokens", json={"days": days}), 400)
    assert "unknown user" in refused(client.post("/users/nobody/tokens"), 404)


def peak_rss_mb(process: subprocess.Popen) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    status = Path(f"/proc/{process.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024


def test_work_is_bounded(tmp_path: Path) -> None:
    env = service_server.environment(tmp_path, TPL_MAX_USERS="2", TPL_MAX_ANALYSES="1")
    with service_server.start(tmp_path, env=env) as bounded, bounded.client() as client:
        # An hour of silence, 0.4 MB of FLAC: refused from its header, never decoded. The issue asks for
        # 2 s; 10 s leaves room for 2 cores shared with other work.
        flac = tmp_path / "hour.flac"
        subprocess.run([audio.ffmpeg_executable(), "-v", "error", "-f", "lavfi", "-i",
                        "anullsrc=r=8000:cl=mono", "-t", "3600", "-c:a", "flac", str(flac)], check=True)
        started = time.monotonic()
        message = refused(client.post("/predict", files={"file": ("hour.flac", flac.read_bytes())}), 413)
        assert time.monotonic() - started < 10
        assert "hour.flac lasts 3600 s, longer than the 900 s allowed" in message and "excerpt" in message
        assert peak_rss_mb(bounded.process) < 300 and not list((bounded.root / "tmp").iterdir())

        # Users up to TPL_MAX_USERS.
        new_user(client, "one")
        new_user(client, "two")
        full = refused(client.post("/users", json={"user_id": "three"}), 507)
        assert "2 users already" in full and "TPL_MAX_USERS" in full
        assert client.delete("/users/one").status_code == 204
        new_user(client, "three")

        # One analysis at a time: a second audio upload meanwhile is told when to come back.
        wav = write_wav(tmp_path / "long.wav", progression(seconds_per_chord=7.5))
        first: dict[str, httpx.Response] = {}
        thread = threading.Thread(target=lambda: first.update(response=client.post(
            "/predict", files={"file": (wav.name, wav.read_bytes())})))
        thread.start()
        deadline = time.monotonic() + 60
        while not list((bounded.root / "tmp").iterdir()) and time.monotonic() < deadline:
            time.sleep(0.01)  # until the first upload's temporary folder appears: it is being analysed
        with bounded.client() as other:
            busy = other.post("/predict", files={"file": (wav.name, wav.read_bytes())})
            csv = bounded.root / "data" / "feats" / "song_00.csv"
            assert other.post("/predict", files={"file": (csv.name, csv.read_bytes())}).status_code == 200
        thread.join()
        assert "being analysed" in refused(busy, 503) and busy.headers["retry-after"] == "5"
        assert first["response"].status_code == 200
        assert client.post("/predict", files={"file": (wav.name, wav.read_bytes())}).status_code == 200


def test_half_open_connections_neither_stay_nor_starve_health(tmp_path: Path) -> None:
    """1,000 sockets that send half a request head, against a server of 256 file descriptors: /health
    still answers (the issue asks for 1 s; 5 s leaves room for 2 cores shared with other work), and
    each of them is closed within a few seconds (HEAD_SECONDS, or sooner to make room)."""
    with service_server.start(tmp_path, open_files=256) as limited:
        parts = urlsplit(limited.url)

        def half_open(_: int) -> socket.socket:
            conn = socket.create_connection((parts.hostname, parts.port), timeout=60)
            conn.sendall(b"GET /health HTTP/1.1\r\nHost: " + parts.netloc.encode() + b"\r\n")
            return conn

        with ThreadPoolExecutor(50) as connecting:  # a full accept queue makes each connect wait 1 s
            sockets = list(connecting.map(half_open, range(1000)))
        try:
            started = time.monotonic()
            assert httpx.get(limited.url + "/health", timeout=30).json() == {"status": "ok"}
            assert time.monotonic() - started < 5
            started = time.monotonic()
            for conn in sockets:
                with contextlib.suppress(ConnectionResetError):  # closed with the head unread: a reset
                    assert conn.recv(1024) == b""  # closed by the server, without an answer
            assert time.monotonic() - started < connections.HEAD_SECONDS + 20
        finally:
            for conn in sockets:
                conn.close()
        assert "Too many open files" not in limited.log.read_text()


def test_workers_serve_the_same_folders_and_stop_with_their_parent(tmp_path: Path) -> None:
    with service_server.start(tmp_path, "--workers", "2") as served, served.client() as client:
        deadline = time.monotonic() + 60
        while len(pids := set(re.findall(r"Started server process \[(\d+)\]", served.log.read_text()))) < 2:
            assert time.monotonic() < deadline, served.log.read_text()
            time.sleep(0.1)
        assert str(served.process.pid) not in pids and "2 worker(s)" in served.log.read_text()
        new_user(client, "shared")
        songs = ask(client, "shared", 2)
        for _ in range(8):  # a new connection each time: either worker answers, from the same folders
            state = httpx.get(served.url + "/users/shared", headers=served.headers).json()
            assert state["pending"] and state["queried"] == songs
        retrained = client.post("/users/shared/annotations", json=answers(served, songs))
        assert retrained.json()["iteration"] == 1
        os.kill(served.process.pid, signal.SIGTERM)  # the parent alone, as `docker stop` does
        assert served.process.wait(30) == 0
        for pid in pids:
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    refused_workers = subprocess.run([sys.executable, str(ROOT / "serve.py"), "--workers", "0"],
                                     env=service_server.environment(tmp_path), capture_output=True, text=True,
                                     timeout=60)
    assert "--workers must be at least 1" in error_line(refused_workers)
