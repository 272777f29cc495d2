"""The HTTP service through a real serve.py process and a real HTTP client (tests/service_server.py)."""

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
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
    assert "swagger" in httpx.get(server.url + "/docs").text.lower()
    # A path that only starts like the page's is not public.
    status, body = raw_get(server, "/annotate/../users/827")
    assert status == 401 and b"token" in body


def test_the_whole_loop(server: service_server.Server, client: httpx.Client) -> None:
    created = new_user(client, "827")
    assert created == {"user_id": "827", "iteration": 0, "strategy": "mc", "update_rule": "layer",
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
    assert changed["pool_songs"] == len(server.truth) and 0 < changed["layer_moved"] < 1
    assert 0 <= changed["songs_changed"] <= len(server.truth)
    folder = server.root / "models" / "users" / "827"
    history = [json.loads(line) for line in (folder / "annotations.jsonl").read_text().splitlines()]
    assert history[0]["labels"] == {song: server.truth[song] for song in songs}
    assert (folder / committees.LAYER_FILE).is_file()  # the layer rule refitted the user's layer
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
    env = service_server.environment(tmp_path, TPL_API_TOKEN="", TPL_AUDIO_DIRECTORY="")
    with service_server.start(tmp_path, "--no-auth", env=env) as open_server:
        assert "unknown user" in refused(httpx.get(open_server.url + "/users/nobody"), 404)
        assert "no audio" in refused(httpx.get(open_server.url + "/audio/song_05"), 404)
    assert "no authentication" in open_server.log.read_text()
