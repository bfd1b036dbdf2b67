"""core.fileio: atomic writes leave the old file or the new one, never half; errors name file and line."""

from __future__ import annotations

import json

import pytest

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.fileio import (
    append_jsonl,
    atomic_dir,
    atomic_write,
    read_json_object,
    read_jsonl,
    write_json_atomic,
    write_jsonl_atomic,
)


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    out = tmp_path / "x.json"
    write_json_atomic(out, {"a": "é"})
    assert json.loads(out.read_text(encoding="utf-8")) == {"a": "é"}

    def boom(f):
        f.write("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(out, boom)
    assert json.loads(out.read_text(encoding="utf-8")) == {"a": "é"}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_jsonl_round_trip_and_append(tmp_path):
    f = tmp_path / "r.jsonl"
    write_jsonl_atomic(f, [{"a": 1}, {"b": "ü"}])
    append_jsonl(f, [{"c": 3}])
    assert read_jsonl(f) == [{"a": 1}, {"b": "ü"}, {"c": 3}]


@pytest.mark.parametrize("line, needle", [("[1, 2]", "holds an array, not a JSON object"),
                                          ('"text"', "holds a string"), ("{oops", "invalid JSON")])
def test_a_bad_jsonl_line_is_one_error_naming_file_and_line(tmp_path, line, needle):
    f = tmp_path / "r.jsonl"
    f.write_text('{"a": 1}\n\n' + line + "\n", encoding="utf-8")
    with pytest.raises(CatalogWriterError) as e:
        read_jsonl(f)
    assert str(e.value).startswith(f"{f}, row 3: ") and needle in str(e.value)
    assert "\n" not in str(e.value)


def test_skip_broken_reads_a_journal_cut_by_a_kill(tmp_path):
    f = tmp_path / "j.jsonl"
    f.write_text('{"a": 1}\n[2]\n{"b": 2}\n{"c": ', encoding="utf-8")
    assert read_jsonl(f, skip_broken=True) == [{"a": 1}, {"b": 2}]
    assert read_jsonl(tmp_path / "none.jsonl", skip_broken=True) == []
    with pytest.raises(CatalogWriterError, match="file not found"):
        read_jsonl(tmp_path / "none.jsonl")
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(CatalogWriterError, match="not UTF-8"):
        read_jsonl(tmp_path / "bin.jsonl")


@pytest.mark.parametrize("text, needle", [("{bad", "not a valid run.json (Expecting"),
                                          ("[1]", "holds an array, not a JSON object"), ("", "not a valid")])
def test_read_json_object_names_the_file(tmp_path, text, needle):
    f = tmp_path / "run.json"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogWriterError, match="run.json") as e:
        read_json_object(f, "run.json")
    assert str(e.value).startswith(str(f)) and needle in str(e.value)


def test_atomic_dir_swaps_a_whole_folder_or_nothing(tmp_path):
    out = tmp_path / "model"
    with atomic_dir(out) as staging:
        (staging / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as staging:
            (staging / "b").write_text("2")
            raise RuntimeError("killed mid-save")
    assert [p.name for p in out.iterdir()] == ["a"]
    with atomic_dir(out) as staging:
        (staging / "c").write_text("3")
    assert [p.name for p in out.iterdir()] == ["c"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


@pytest.mark.parametrize("text, needle", [("lora: [1,\n  2\n", "not valid YAML"),
                                          ("- 1\n- 2\n", "mapping of sections (a, b)")])
def test_read_yaml_mapping_errors_are_one_line(tmp_path, text, needle):
    from catalog_writer.core.fileio import read_yaml_mapping

    f = tmp_path / "r.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogWriterError) as e:
        read_yaml_mapping(f, "recipe", ["a", "b"])
    assert str(e.value).startswith(str(f)) and needle in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(CatalogWriterError, match="recipe not found"):
        read_yaml_mapping(tmp_path, "recipe", ["a"])  # a folder is not a recipe file
