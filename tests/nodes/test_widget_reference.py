"""docs/nodes.md "Input reference" is what a user can connect and set: every node's inputs, in order, required
or not, with their type (a socket's data type, or the widget's type, default, range, step and choices) must be
exactly the documented ones. The tables are read here with a parser of
their own (the expected values are the hand-written document, not the node code). Widget order matters beyond
looks: a saved workflow stores widget values by position."""
from __future__ import annotations


import pytest

from tests.paths import ROOT

DOC = ROOT / "docs" / "nodes.md"
WIDGET_TYPES = ("INT", "FLOAT", "BOOLEAN", "STRING")
COLUMNS = ["input", "type", "required", "default", "min", "max", "step", "choices"]


def documented_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """{node display name: [row as {column: cell}]} from the "## Input reference" section."""
    section = text.split("\n## Input reference\n", 1)[1].split("\n## ", 1)[0]
    tables: dict[str, list[dict[str, str]]] = {}
    node = None
    for line in section.splitlines():
        if line.startswith("### "):
            node = line[4:].strip()
            tables[node] = []
        elif line.startswith("|") and node is not None:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] in ("input", "---"):
                continue
            assert len(cells) == len(COLUMNS), f"{node}: row {line!r} has {len(cells)} cells"
            tables[node].append(dict(zip(COLUMNS, cells)))
    return tables


def inputs_of(node_class) -> list[tuple[str, object, dict, bool]]:
    """(name, kind, options, required) of every input, in canvas order (required first, as ComfyUI does)."""
    spec = node_class.INPUT_TYPES()
    out = []
    for section in ("required", "optional"):
        for name, entry in spec.get(section, {}).items():
            out.append((name, entry[0], (entry[1] if len(entry) > 1 else {}), section == "required"))
    return out


def _number(cell: str, kind: str):
    return int(cell) if kind == "INT" else float(cell)


def check_input(node: str, row: dict[str, str], kind, options: dict) -> None:
    where = f"{node} / {row['input']}"
    if not isinstance(kind, (list, tuple)) and kind not in WIDGET_TYPES:  # a socket: its data type only
        assert kind == row["type"], f"{where}: socket type {kind}, documented {row['type']}"
        assert not {"default", "min", "max", "step"} & set(options), f"{where}: a socket with widget options"
        assert not any(row[key] for key in ("default", "min", "max", "step", "choices")), where
        return
    if isinstance(kind, (list, tuple)):
        assert row["type"] == "list", f"{where}: documented {row['type']}, the node has a list"
        choices = row["choices"]
        if choices.startswith("the files"):  # depends on the installation: nothing fixed to compare
            return
        fixed, _, _rest = choices.partition(", then ")
        expected = [c.strip() for c in fixed.split(",")]
        actual = list(kind)
        assert (actual[:len(expected)] if "then" in choices else actual) == expected, where
        if row["default"].endswith(" (first)"):  # no "default": ComfyUI shows the first entry
            assert "default" not in options and actual[0] == row["default"].removesuffix(" (first)"), where
        else:
            assert options.get("default") == row["default"], \
                f"{where}: default {options.get('default')!r}, documented {row['default']!r}"
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
def test_every_input_is_the_documented_one(pack, key):
    node = pack.NODE_DISPLAY_NAME_MAPPINGS[key]
    rows = documented_tables(DOC.read_text())[node]
    inputs = inputs_of(pack.NODE_CLASS_MAPPINGS[key])
    assert [name for name, *_ in inputs] == [row["input"] for row in rows], f"{node}: inputs or their order"
    for (name, kind, options, required), row in zip(inputs, rows):
        assert required == {"yes": True, "no": False}[row["required"]], f"{node} / {name}: required"
        check_input(node, row, kind, options)


@pytest.mark.parametrize("key", ["DisCoModelLoader", "DisCoDisentangleImage", "DisCoPoseSequence", "DisCoSampler",
                                 "DisCoTemporalSmooth", "DisCoFineTune", "DisCoCluster"])
def test_every_input_and_output_explains_itself_on_hover(pack, key):
    """The canvas shows an input's "tooltip" (and OUTPUT_TOOLTIPS) on hover: none may be missing or empty."""
    cls = pack.NODE_CLASS_MAPPINGS[key]
    for name, _kind, options, _required in inputs_of(cls):
        assert isinstance(options.get("tooltip"), str) and len(options["tooltip"]) > 10, f"{key} / {name}"
    assert len(cls.OUTPUT_TOOLTIPS) == len(cls.RETURN_TYPES) and all(len(t) > 10 for t in cls.OUTPUT_TOOLTIPS)
    assert len(cls.DESCRIPTION) > 40


def test_the_checker_sees_a_changed_range():
    """The checker itself: a step, a maximum, a default or a choice other than the document's fails."""
    row = dict(input="cfg", type="FLOAT", required="yes", default="1.5", min="0.0", max="20.0", step="0.05",
               choices="")
    good = {"default": 1.5, "min": 0.0, "max": 20.0, "step": 0.05}
    check_input("n", row, "FLOAT", good)
    for key, value in [("step", 0.5), ("max", 21.0), ("default", 1.0)]:
        with pytest.raises(AssertionError):
            check_input("n", row, "FLOAT", {**good, key: value})
    with pytest.raises(AssertionError):
        check_input("n", row, "FLOAT", {**good, "round": 0.01} | {"step": 0.1})
    listed = dict(input="fit", type="list", required="yes", default="crop", min="", max="", step="", choices="crop, pad")
    check_input("n", listed, ["crop", "pad"], {"default": "crop"})
    with pytest.raises(AssertionError):
        check_input("n", listed, ["crop", "pad", "zoom"], {"default": "crop"})
    socket = dict(input="mask", type="MASK", required="no", default="", min="", max="", step="", choices="")
    check_input("n", socket, "MASK", {"tooltip": "t"})
    with pytest.raises(AssertionError):
        check_input("n", socket, "IMAGE", {"tooltip": "t"})



@pytest.mark.parametrize("key", ["DisCoModelLoader", "DisCoDisentangleImage", "DisCoPoseSequence", "DisCoSampler",
                                 "DisCoTemporalSmooth", "DisCoFineTune", "DisCoCluster"])
def test_calling_a_node_with_its_sockets_only_uses_the_documented_defaults(pack, key):
    """Scripts and tests call node functions directly; a keyword left out must mean the canvas default."""
    import inspect

    node = pack.NODE_DISPLAY_NAME_MAPPINGS[key]
    cls = pack.NODE_CLASS_MAPPINGS[key]
    documented = {row["input"]: row for row in documented_tables(DOC.read_text())[node]}
    # sample_with_preview / build_with_preview take **inputs and hand them to sample / build
    function = getattr(cls, cls.FUNCTION.removesuffix("_with_preview"))
    for name, parameter in inspect.signature(function).parameters.items():
        row = documented.get(name)
        if row is None or parameter.default is inspect.Parameter.empty or not row["default"]:
            continue
        default = row["default"].removesuffix(" (first)")
        if row["type"] in ("INT", "FLOAT"):
            expected = _number(default, row["type"])
        elif row["type"] == "BOOLEAN":
            expected = {"on": True, "off": False}[default]
        else:
            expected = "" if default == "(empty)" else default
        assert parameter.default == expected and type(parameter.default) is type(expected), \
            f"{node}.{function.__name__}({name}={parameter.default!r}), documented default {expected!r}"

