import json

import pytest

from otmark.jsonfile import read_json_document


def test_reads_a_tagged_document(tmp_path):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps({"format": "otmark-x", "value": [1, 2]}))
    assert read_json_document(path, "otmark-x") == {"format": "otmark-x", "value": [1, 2]}


def test_bad_documents_name_the_file_and_problem(tmp_path):
    path = tmp_path / "doc.json"
    path.write_text('{"format":\n oops}')
    with pytest.raises(ValueError, match=r"doc\.json: not valid JSON \(line 2: "):
        read_json_document(path, "otmark-x")
    for content in ([1], {"format": "otmark-y"}, {"value": 1}):
        path.write_text(json.dumps(content))
        with pytest.raises(ValueError, match=r"doc\.json: not an otmark-x file"):
            read_json_document(path, "otmark-x")
