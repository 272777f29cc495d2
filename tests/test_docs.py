"""The README's commands and the Dockerfile cannot rot: every documented command is checked here."""

import importlib
import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run_script

README = ROOT / "README.md"
DOCKERFILE = ROOT / "Dockerfile"


def fenced_commands() -> list[list[str]]:
    """Every command line of the README's ```bash blocks, split like a shell would."""
    blocks = re.findall(r"```(\w*)\n(.*?)```", README.read_text(), flags=re.S)
    lines = [line.strip() for lang, block in blocks if lang in {"bash", "sh"}
             for line in block.replace("\\\n", " ").splitlines()]
    return [shlex.split(line) for line in lines if line and not line.startswith("#")]


def script_calls() -> list[tuple[str, list[str]]]:
    """(script, arguments) of every `python3 X.py …` in the README, also inside `docker run` lines."""
    calls = []
    for words in fenced_commands():
        if "python3" in words:
            start = words.index("python3") + 1
            if start < len(words) and words[start].endswith(".py") and "/" not in words[start]:
                calls.append((words[start], words[start + 1:]))
    return calls


def parser_of(script: str):
    """The parser of the command a root script runs (trompa_mer/commands/<script>)."""
    return importlib.import_module(f"trompa_mer.commands.{Path(script).stem}").build_parser()


def test_readme_opens_with_the_two_commands() -> None:
    commands = [" ".join(words) for words in fenced_commands()]
    assert commands[:2] == ["make demo", "make test"]


def test_every_make_target_in_the_readme_exists() -> None:
    targets = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), flags=re.M))
    used = {words[1] for words in fenced_commands() if words[0] == "make" and len(words) > 1}
    assert used and used <= targets


@pytest.mark.parametrize("script,args", script_calls(), ids=lambda value: str(value)[:60])
def test_every_readme_script_call_parses(script: str, args: list[str]) -> None:
    assert (ROOT / script).is_file(), script
    parser_of(script).parse_args(args)  # argparse exits (SystemExit) on an unknown flag


def test_readme_documents_every_script_and_a_docker_line_for_each() -> None:
    scripts = {path.name for path in ROOT.glob("*.py") if path.name != "demo.py"}
    documented = {script for script, _ in script_calls()}
    assert scripts <= documented
    docker = {words[words.index("python3") + 1] for words in fenced_commands()
              if words[:2] == ["docker", "run"] and "python3" in words}
    core = {"create_user.py", "extract_features.py", "predict_emotion.py", "get_hard_tracks.py",
            "retrain_model.py", "deam_classifier.py"}
    assert core <= docker


def test_dockerfile_installs_requirements_and_runs_the_service() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, flags=re.M)
    assert "pip install --no-cache-dir -r requirements.txt" in text
    assert re.search(r"^COPY requirements\.txt", text, flags=re.M)
    assert re.search(r"^COPY \. \.", text, flags=re.M)
    assert re.search(r"^WORKDIR /code", text, flags=re.M)
    assert "ffmpeg" in text
    user = re.findall(r"^USER (\S+)", text, flags=re.M)
    assert user and user[-1] not in {"root", "0"}
    assert served_command(text) == ["python3", "serve.py", "--host", "0.0.0.0", "--port", "8000"]
    assert parser_of("serve.py").parse_args(served_command(text)[2:]).port == 8000
    assert re.search(r"^EXPOSE 8000$", text, flags=re.M)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "data/", "models/users/", "audio/"} <= set(ignored)


@pytest.mark.parametrize("script", sorted(path.name for path in ROOT.glob("*.py") if path.name != "demo.py"))
def test_every_option_of_every_script_says_what_it_is(script: str) -> None:
    silent = [action.option_strings or action.dest for action in parser_of(script)._actions
              if not action.help]
    assert silent == []


def test_the_docker_image_the_readme_runs_is_the_one_it_builds() -> None:
    commands = [words for words in fenced_commands() if words[0] == "docker"]
    built = [words[words.index("-t") + 1] for words in commands if words[1] == "build"]
    runs = [words for words in commands if words[1] == "run"]
    first_run = commands.index(runs[0])
    assert built and all(set(built) & set(words[2:]) for words in runs)
    assert commands.index(next(words for words in commands if words[1] == "build")) < first_run


def test_the_readme_prediction_example_has_the_fields_and_model_form_predict_writes(shared: Path,
                                                                                    tmp_path: Path) -> None:
    example_text = re.search(r"Output:\n```json\n(.*?)```", README.read_text(), flags=re.S).group(1)
    example = json.loads(example_text.replace(", ...]", "]").replace("[0, 0, 3, ...]", "[0, 0, 3]"))
    clip = sorted((shared / "data" / "4q-dev" / "audio").glob("*.mp3"))[0]
    song = tmp_path / "song.csv"
    run_script("extract_features.py", "-i", clip, "-o", song, check=True)  # every family the committee reads
    out = tmp_path / "song.json"
    run_script("predict_emotion.py", "-i", song, "-o", out, "-m", "default", check=True)
    written = json.loads(out.read_text())
    assert list(example) == list(written)
    assert written["model"] == example["model"] == "default"  # as the service names it, not by its path


def served_command(dockerfile: str) -> list[str]:
    """The image's default command (the last CMD, in JSON form)."""
    return json.loads(re.findall(r"^CMD (\[.*\])$", dockerfile, flags=re.M)[-1])


def test_docker_compose_runs_the_image_with_the_data_folders_as_volumes() -> None:
    service, = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"].values()
    assert service["build"] == "." and "command" not in service  # the image's own: serve.py
    volumes = {volume.split(":")[1]: volume.split(":")[0] for volume in service["volumes"]}
    assert volumes == {"/code/models/users": "./models/users", "/code/data": "./data",
                       "/code/audio": "./audio"}
    assert service["environment"]["TPL_AUDIO_DIRECTORY"] == "/code/audio"
    assert service["environment"]["TPL_API_TOKEN"].startswith("${TPL_API_TOKEN:?")  # refused when unset
    assert all(port.startswith("127.0.0.1:") for port in service["ports"])
