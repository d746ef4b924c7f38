"""Each playbook's image (RM116) exists, is what tools/playbook_image.py draws from the yml today, and is
shown by the playbook README the way demisto-sdk generate-docs writes it."""

import copy
import struct
import zlib
from pathlib import Path

import pytest
import yaml

from tools import playbook_image

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = playbook_image.playbook_files(REPO / "Packs")


def load(playbook_file: Path) -> dict:
    return yaml.safe_load(playbook_file.read_text(encoding="utf-8"))


def test_every_pack_playbook_is_found():
    assert [path.name for path in PLAYBOOKS] == [
        "playbook-ThreatMon_-_Alarm_Handling.yml",
        "playbook-ThreatMon_-_Apply_Alarm_Status_Change.yml",
        "playbook-ThreatMon_-_Sync_Alarm_Statuses.yml",
    ]


@pytest.mark.parametrize("playbook_file", PLAYBOOKS, ids=lambda path: path.stem)
def test_the_image_sits_where_demisto_sdk_looks_for_it(playbook_file):
    assert playbook_image.image_path(playbook_file) == playbook_file.parents[1] / "doc_files" / (
        playbook_file.stem.removeprefix("playbook-") + ".png"
    )


@pytest.mark.parametrize("playbook_file", PLAYBOOKS, ids=lambda path: path.stem)
def test_the_committed_image_is_the_one_drawn_from_the_yml_today(playbook_file):
    target = playbook_image.image_path(playbook_file)
    assert target.is_file(), f"{target} is missing: run `make playbook-images`"
    drawn = playbook_image.render_file(playbook_file)
    assert playbook_image.decode(target.read_bytes()) == playbook_image.decode(drawn), (
        f"{target.relative_to(REPO)} is stale: run `make playbook-images`"
    )


@pytest.mark.parametrize("playbook_file", PLAYBOOKS, ids=lambda path: path.stem)
def test_the_playbook_readme_shows_the_image(playbook_file):
    readme = playbook_file.with_name(playbook_file.stem + "_README.md").read_text(encoding="utf-8")
    name = load(playbook_file)["name"]
    relative = "../doc_files/" + playbook_image.image_path(playbook_file).name
    assert f"![{name}]({relative})" in readme


def test_renaming_a_task_changes_the_image():
    playbook = load(PLAYBOOKS[0])
    renamed = copy.deepcopy(playbook)
    renamed["tasks"]["1"]["task"]["name"] = "Something else entirely"
    assert playbook_image.decode(playbook_image.render(renamed)) != playbook_image.decode(playbook_image.render(playbook))


def test_moving_a_task_changes_the_image():
    playbook = load(PLAYBOOKS[0])
    moved = copy.deepcopy(playbook)
    moved["tasks"]["5"]["view"] = '{"position": {"x": 850, "y": 895}}'
    assert playbook_image.decode(playbook_image.render(moved)) != playbook_image.decode(playbook_image.render(playbook))


def test_the_same_yml_gives_the_same_bytes():
    playbook = load(PLAYBOOKS[0])
    assert playbook_image.render(playbook) == playbook_image.render(copy.deepcopy(playbook))


def test_the_image_is_a_palette_png_as_large_as_the_playbook_layout():
    header, palette, pixels = playbook_image.decode(playbook_image.render_file(PLAYBOOKS[0]))
    width, height, depth, colour_type = struct.unpack(">IIBB", header[:10])
    assert (depth, colour_type) == (8, 3)
    assert len(palette) == 3 * len(playbook_image.PALETTE)
    assert len(pixels) == height * (width + 1)
    # the editor's paper: the tasks span x 50..1230 and y 50..1810 (the end pill is 40 high)
    assert width >= 1180 + 2 * playbook_image.MARGIN
    assert height == 1810 - 50 + 2 * playbook_image.MARGIN


def test_a_crossing_edge_goes_round_the_cards_in_its_way():
    tasks = playbook_image.load_tasks(load(PLAYBOOKS[0]))
    edges = playbook_image.route(tasks)
    skip = next(e for e in edges if e.source.task_id == "2" and e.target.task_id == "10")  # yes: past tasks 3 and 4
    straight = next(e for e in edges if e.source.task_id == "1" and e.target.task_id == "2")
    assert skip.lane_x is not None
    assert skip.lane_x > max(task.x + playbook_image.CARD_WIDTH for task in tasks if task.task_id in {"3", "4"})
    assert straight.lane_x is None


def test_branch_labels_read_as_in_the_editor():
    assert [playbook_image.branch_label(label) for label in ["#none#", "#default#", "Yes", "False Positive"]] == [
        "",
        "else",
        "Yes",
        "False Positive",
    ]


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("Close the incident (Resolved)", ["Close the incident", "(Resolved)"]),
        ("short", ["short"]),
        (
            "one two three four five six seven eight nine ten eleven twelve",
            ["one two three four", "five six seven", "eight nine ten..."],
        ),
        ("averyveryverylongwordthatdoesnotfit", ["averyveryverylo..."]),
    ],
)
def test_wrap(text, lines):
    assert playbook_image.wrap(text, 18, 3) == lines


def test_every_glyph_is_five_pixels_wide_and_seven_or_nine_high():
    assert set(playbook_image.FONT) == {chr(code) for code in range(32, 127)}
    for char, rows in playbook_image.FONT.items():
        assert len(rows) in (7, 9), char
        assert all(len(row) == 5 and set(row) <= {"#", "."} for row in rows), char


def test_is_current_compares_pixels_not_compressed_bytes(tmp_path):
    image = playbook_image.render_file(PLAYBOOKS[0])
    header, palette, pixels = playbook_image.decode(image)
    repacked = tmp_path / "same.png"
    repacked.write_bytes(  # the same pixels, compressed at another level
        b"\x89PNG\r\n\x1a\n"
        + playbook_image._chunk(b"IHDR", header)
        + playbook_image._chunk(b"PLTE", palette)
        + playbook_image._chunk(b"IDAT", zlib.compress(pixels, 1))
        + playbook_image._chunk(b"IEND", b"")
    )
    assert repacked.read_bytes() != image
    assert playbook_image.is_current(repacked, image)
    assert not playbook_image.is_current(tmp_path / "missing.png", image)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    assert not playbook_image.is_current(tmp_path / "broken.png", image)


def test_check_mode_names_a_stale_image_and_writes_nothing(tmp_path, monkeypatch, capsys):
    pack = tmp_path / "Packs" / "Demo"
    (pack / "Playbooks").mkdir(parents=True)
    playbook_file = pack / "Playbooks" / "playbook-Demo.yml"
    playbook_file.write_text(PLAYBOOKS[0].read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(playbook_image, "REPO", tmp_path)
    monkeypatch.setattr(playbook_image, "PACKS", tmp_path / "Packs")

    assert playbook_image.main(["--check"]) == 1
    assert not (pack / "doc_files").exists()
    assert "Packs/Demo/doc_files/Demo.png is missing or does not match its playbook" in capsys.readouterr().out

    assert playbook_image.main([]) == 0
    assert "wrote Packs/Demo/doc_files/Demo.png" in capsys.readouterr().out
    assert playbook_image.main(["--check"]) == 0
