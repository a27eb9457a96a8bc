import json

import pytest

from otmark.jsonfile import read_json, read_json_document


def test_reads_any_json_value_and_names_the_file_and_line_of_a_bad_one(tmp_path):
    path = tmp_path / "boxes.json"
    path.write_text("[1, 2.5]")
    assert read_json(path) == [1, 2.5]
    path.write_text('{"a": 1,\n\n "b": }')
    with pytest.raises(ValueError, match=r"boxes\.json: not valid JSON \(line 3: "):
        read_json(path)


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
