"""docs/nodes.md "Widget reference" is what a user can set: every node's widgets, in order, with their type,
default, range, step and choices must be exactly the documented ones. The tables are read here with a parser of
their own (the expected values are the hand-written document, not the node code). Widget order matters beyond
looks: a saved workflow stores widget values by position."""
from __future__ import annotations


import pytest

from tests.paths import ROOT

DOC = ROOT / "docs" / "nodes.md"
WIDGET_TYPES = ("INT", "FLOAT", "BOOLEAN", "STRING")
COLUMNS = ["widget", "type", "default", "min", "max", "step", "choices"]


def documented_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """{node display name: [row as {column: cell}]} from the "## Widget reference" section."""
    section = text.split("\n## Widget reference\n", 1)[1].split("\n## ", 1)[0]
    tables: dict[str, list[dict[str, str]]] = {}
    node = None
    for line in section.splitlines():
        if line.startswith("### "):
            node = line[4:].strip()
            tables[node] = []
        elif line.startswith("|") and node is not None:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] in ("widget", "---"):
                continue
            assert len(cells) == len(COLUMNS), f"{node}: row {line!r} has {len(cells)} cells"
            tables[node].append(dict(zip(COLUMNS, cells)))
    return tables


def widgets_of(node_class) -> list[tuple[str, object, dict]]:
    """(name, kind, options) of the inputs a user sets on the node (sockets excluded), in canvas order."""
    spec = node_class.INPUT_TYPES()
    out = []
    for section in ("required", "optional"):
        for name, entry in spec.get(section, {}).items():
            kind, options = entry[0], (entry[1] if len(entry) > 1 else {})
            if isinstance(kind, (list, tuple)) or kind in WIDGET_TYPES:
                out.append((name, kind, options))
    return out


def _number(cell: str, kind: str):
    return int(cell) if kind == "INT" else float(cell)


def check_widget(node: str, row: dict[str, str], kind, options: dict) -> None:
    where = f"{node} / {row['widget']}"
    if isinstance(kind, (list, tuple)):
        assert row["type"] == "list", f"{where}: documented {row['type']}, the node has a list"
        choices = row["choices"]
        if choices.startswith("the files"):  # depends on the installation: nothing fixed to compare
            return
        fixed, _, _rest = choices.partition(", then ")
        expected = [c.strip() for c in fixed.split(",")]
        actual = list(kind)
        assert (actual[:len(expected)] if "then" in choices else actual) == expected, where
        default = options.get("default", actual[0] if actual else None)  # ComfyUI shows the first entry
        assert default == row["default"], f"{where}: default {default!r}, documented {row['default']!r}"
        assert not {"min", "max", "step"} & set(options), where
        return
    assert kind == row["type"], f"{where}: type {kind}, documented {row['type']}"
    if kind == "BOOLEAN":
        assert options.get("default") is {"on": True, "off": False}[row["default"]], where
    elif kind == "STRING":
        documented = "" if row["default"] == "(empty)" else row["default"]
        assert options.get("default") == documented, where
    else:
        for key in ("default", "min", "max", "step"):
            if row[key]:
                expected = _number(row[key], "FLOAT" if key == "step" else kind)
                assert key in options and options[key] == expected, \
                    f"{where}: {key} {options.get(key)!r}, documented {expected!r}"
                assert type(options[key]) is type(expected) or key == "step", f"{where}: {key} type"
            else:
                assert key not in options, f"{where}: {key} {options[key]!r} is not documented"


def test_the_tables_parse_and_name_every_node(pack):
    tables = documented_tables(DOC.read_text())
    assert set(tables) == set(pack.NODE_DISPLAY_NAME_MAPPINGS.values())
    assert all(tables.values()), "a node table without rows"


@pytest.mark.parametrize("key", ["DisCoModelLoader", "DisCoDisentangleImage", "DisCoPoseSequence", "DisCoSampler",
                                 "DisCoTemporalSmooth", "DisCoFineTune", "DisCoCluster"])
def test_every_widget_is_the_documented_one(pack, key):
    node = pack.NODE_DISPLAY_NAME_MAPPINGS[key]
    rows = documented_tables(DOC.read_text())[node]
    widgets = widgets_of(pack.NODE_CLASS_MAPPINGS[key])
    assert [name for name, _, _ in widgets] == [row["widget"] for row in rows], f"{node}: widgets or their order"
    for (name, kind, options), row in zip(widgets, rows):
        check_widget(node, row, kind, options)


def test_the_checker_sees_a_changed_range():
    """The checker itself: a step, a maximum, a default or a choice other than the document's fails."""
    row = dict(widget="cfg", type="FLOAT", default="1.5", min="0.0", max="20.0", step="0.05", choices="")
    good = {"default": 1.5, "min": 0.0, "max": 20.0, "step": 0.05}
    check_widget("n", row, "FLOAT", good)
    for key, value in [("step", 0.5), ("max", 21.0), ("default", 1.0)]:
        with pytest.raises(AssertionError):
            check_widget("n", row, "FLOAT", {**good, key: value})
    with pytest.raises(AssertionError):
        check_widget("n", row, "FLOAT", {**good, "round": 0.01} | {"step": 0.1})
    listed = dict(widget="fit", type="list", default="crop", min="", max="", step="", choices="crop, pad")
    check_widget("n", listed, ["crop", "pad"], {"default": "crop"})
    with pytest.raises(AssertionError):
        check_widget("n", listed, ["crop", "pad", "zoom"], {"default": "crop"})

