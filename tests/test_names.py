"""names.py: the fixed names, and the one reader of {song: quadrant} answers every layer uses."""

import re

import pytest

from trompa_mer.errors import AnnotationError, LegacyError
from trompa_mer.legacy import migrate
from trompa_mer.names import song_quadrants
from trompa_mer.users import personalize

REFUSED = [({}, 'x must be a JSON object {"song_id": "Q1", ...}'), ([], "x must be a JSON object"),
           ({"a": "Q5"}, "x: song a: not a quadrant: 'Q5'"), ({"a": 3}, "x: song a: not a quadrant: '3'")]


def test_answers_and_legacy_logs_read_song_quadrants_alike() -> None:
    assert song_quadrants({"MT01": "q2", "b": "Q4"}, "x") == {"mt01": 1, "b": 3}
    assert personalize.parse_annotations({"MT01": "q2"}) == {"mt01": 1}
    assert migrate._labels({"MT01": "q2"}, "pool_data.json") == {"mt01": "Q2"}  # any case there too
    parsers = [(song_quadrants, ValueError), (personalize.parse_annotations, AnnotationError),
               (migrate._labels, LegacyError)]
    for bad, message in REFUSED:
        for parse, error in parsers:
            with pytest.raises(error, match="^" + re.escape(message)):
                parse(bad, "x")
