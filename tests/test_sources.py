"""Source listing, content-hash ids, dedupe and the deterministic split/plan (pipelines/sources.py)."""
from __future__ import annotations

import hashlib

import pytest

from pipelines import sources as S
from vidshard.io import file_digest


def _write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture()
def tree(tmp_path):
    _write(tmp_path / "a.mp4", b"video a")
    _write(tmp_path / "sub" / "deeper" / "b.MOV", b"video b")
    _write(tmp_path / "sub" / "c.264", b"raw stream")
    _write(tmp_path / "sub" / "notes.txt", b"not a video")
    _write(tmp_path / "sub" / "thumb.jpg", b"not a video either")
    return tmp_path


def test_directory_is_recursive_and_keeps_only_video_extensions(tree):
    found = S.expand_input(str(tree))
    assert found == sorted(found)
    names = [p.rsplit("/", 1)[-1] for p in found]
    assert sorted(names) == ["a.mp4", "b.MOV", "c.264"]  # raw .264 is listed (to be recorded), .txt/.jpg are not


def test_glob_and_recursive_glob(tree):
    assert [p.rsplit("/", 1)[-1] for p in S.expand_input(str(tree / "*.mp4"))] == ["a.mp4"]
    deep = S.expand_input(str(tree / "**" / "*.MOV"))
    assert [p.rsplit("/", 1)[-1] for p in deep] == ["b.MOV"]


def test_list_files_txt_and_csv_resolve_relative_entries(tree):
    txt = _write(tree / "lists" / "inputs.txt", b"# comment\n../a.mp4\n\n../sub/deeper/b.MOV\n")
    assert S.expand_input(str(txt)) == [str(tree / "lists" / ".." / "a.mp4"),
                                        str(tree / "lists" / ".." / "sub" / "deeper" / "b.MOV")]
    csv = _write(tree / "inputs.csv", b"id,path\n1,a.mp4\n2,sub/c.264\n")
    assert S.expand_input(str(csv)) == [str(tree / "a.mp4"), str(tree / "sub" / "c.264")]


def test_missing_inputs_are_usage_errors_naming_the_path(tree):
    with pytest.raises(S.SourceError, match="nope.mp4: no such file"):
        S.expand_input(str(tree / "nope.mp4"))
    with pytest.raises(S.SourceError, match="matches no file"):
        S.expand_input(str(tree / "*.webm"))
    empty = tree / "empty_dir"
    empty.mkdir()
    with pytest.raises(S.SourceError, match="no video file"):
        S.expand_input(str(empty))
    bad_list = _write(tree / "bad.txt", b"a.mp4\nmissing.mp4\n")
    with pytest.raises(S.SourceError, match=r"bad.txt: .*missing.mp4: no such file"):
        S.expand_input(str(bad_list))


def test_explicit_file_is_kept_whatever_its_extension(tree):
    odd = _write(tree / "clip.bin", b"?")
    assert S.expand_input(str(odd)) == [str(odd)]


def test_list_sources_drops_repeated_paths(tree):
    a = str(tree / "a.mp4")
    assert S.list_sources([a, str(tree / "*.mp4"), a]) == [a]


def test_ids_are_content_hashes_and_duplicates_are_done_once(tree):
    copy = _write(tree / "zz_copy.mp4", b"video a")
    srcs = S.hash_sources([str(copy), str(tree / "a.mp4"), str(tree / "sub" / "deeper" / "b.MOV")], progress=False)
    digest = hashlib.sha256(b"video a").hexdigest()
    assert srcs[0].sha256 == digest and srcs[0].id == digest[:16] and srcs[0].bytes == 7
    unique = S.dedupe(srcs)
    assert [s.id for s in unique] == sorted({s.id for s in srcs})
    a = next(s for s in unique if s.id == digest[:16])
    assert a.path == str(tree / "a.mp4") and a.duplicates == [str(copy)]  # lexically first path kept


def _fake_sources(n):
    return [S.Source(path=f"/v/{i}.mp4", id=hashlib.sha256(str(i).encode()).hexdigest()[:16]) for i in range(n)]


def test_split_is_by_video_id_and_stable_as_the_set_grows():
    fractions = (0.8, 0.1, 0.1)
    small = S.assign_splits(_fake_sources(40), fractions)
    big = S.assign_splits(_fake_sources(400), fractions)
    where_big = {s.id: split for split, group in big.items() for s in group}
    for split, group in small.items():
        for s in group:
            assert where_big[s.id] == split
    counts = {k: len(v) for k, v in big.items()}
    assert 280 <= counts["train"] <= 360 and counts["val"] > 10 and counts["test"] > 10


def test_tiny_inputs_still_give_a_train_split():
    for n in range(1, 6):
        for fractions in [(0.8, 0.1, 0.1), (0.01, 0.5, 0.49)]:
            splits = S.assign_splits(_fake_sources(n), fractions)
            assert splits["train"], (n, fractions)
            assert sum(len(g) for g in splits.values()) == n


def test_plan_is_deterministic_and_names_come_from_the_plan():
    srcs = _fake_sources(23)
    a = S.plan_units(srcs, (0.6, 0.2, 0.2), 4)
    b = S.plan_units(list(reversed(srcs)), (0.6, 0.2, 0.2), 4)
    assert [(u.name, [s.id for s in u.sources]) for u in a] == [(u.name, [s.id for s in u.sources]) for u in b]
    for split, names in S.shard_splits(a).items():
        assert names == [f"{split}-{i:06d}" for i in range(len(names))]
    for u in a:
        assert 1 <= len(u.sources) <= 16  # 4 on average, never over 4x
        ids = [s.id for s in u.sources]
        assert ids == sorted(ids)
    assert sorted(s.id for u in a for s in u.sources) == sorted(s.id for s in srcs)
    assert [len(u.sources) for u in S.plan_units(srcs, (1, 0, 0), 1)] == [1] * 23  # one video per shard


def _groups(units) -> set[tuple[str, ...]]:
    return {tuple(s.id for s in u.sources) for u in units}


def test_plan_depends_on_the_source_set_only_so_a_change_touches_one_unit():
    srcs = _fake_sources(400)
    base = _groups(S.plan_units(srcs, (0.8, 0.1, 0.1), 8))
    sizes = [len(g) for g in base]
    assert 6 <= sum(sizes) / len(sizes) <= 10 and max(sizes) <= 32
    # a video added (not in the set) or removed changes the unit it falls in, splits one at its boundary or
    # joins two; a joined unit over the 4x cap is cut again: at most 2 units written, 2 dropped, anywhere
    extra = [S.Source(path=f"/v/new{i}.mp4", id=hashlib.sha256(f"new{i}".encode()).hexdigest()[:16]) for i in range(40)]
    changed = []
    for i in range(40):
        grown = _groups(S.plan_units(srcs + [extra[i]], (0.8, 0.1, 0.1), 8))
        shrunk = _groups(S.plan_units(srcs[:i * 10] + srcs[i * 10 + 1:], (0.8, 0.1, 0.1), 8))
        for after in (grown, shrunk):
            assert len(after - base) <= 2 and len(base - after) <= 2, i
            changed.append(len(after - base))
    assert sum(changed) <= 1.2 * len(changed)  # about one unit rewritten per video added or removed
    # the plan never depends on history: the same set planned from any order or growth path is the same
    assert _groups(S.plan_units(list(reversed(srcs)), (0.8, 0.1, 0.1), 8)) == base


def test_parse_split():
    assert S.parse_split("8,1,1") == (0.8, 0.1, 0.1)
    assert S.parse_split("0.8,0.1,0.1") == (0.8, 0.1, 0.1)  # exactly the floats given, when they sum to 1
    assert S.parse_split("1,1,1") == (0.333333, 0.333333, 0.333333)
    for bad in ("0.8,0.2", "a,b,c", "0,0.5,0.5", "-1,1,1", "nan,1,1"):
        with pytest.raises(S.SourceError, match="--split"):
            S.parse_split(bad)


def test_local_url_goes_through_fsspec(tree):
    # 'local://' is fsspec's local filesystem under a URL: exercises the remote code path for real.
    url = f"local://{tree}"
    found = S.expand_input(url)
    assert sorted(p.rsplit("/", 1)[-1] for p in found) == ["a.mp4", "b.MOV", "c.264"]
    assert all(p.startswith("file://") for p in found)  # fsspec's canonical local URL, read as a local path
    digest, n = file_digest(next(p for p in found if p.endswith("a.mp4")))
    assert digest == hashlib.sha256(b"video a").hexdigest() and n == 7
