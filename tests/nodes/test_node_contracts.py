"""Every node keeps the conventions ComfyUI users rely on: ids, names, category, descriptions, tooltips."""
import pytest

EXPECTED = {
    "DisCoModelLoader": "Load DisCo Model",
    "DisCoDisentangleImage": "Disentangle Image",
    "DisCoPoseSequence": "Pose Sequence",
    "DisCoSampler": "DisCo Sampler",
    "DisCoTemporalSmooth": "Temporal Smooth",
    "DisCoFineTune": "DisCo Fine-Tune",
    "DisCoCluster": "DisCo Cluster",
}


def test_all_nodes_load_with_their_display_names(pack):
    assert pack.IMPORT_ERRORS == {}
    assert pack.NODE_DISPLAY_NAME_MAPPINGS == EXPECTED
    assert set(pack.NODE_CLASS_MAPPINGS) == set(EXPECTED)


@pytest.mark.parametrize("node_id", sorted(EXPECTED))
def test_node_has_description_tooltips_and_consistent_outputs(pack, node_id, model_env):
    cls = pack.NODE_CLASS_MAPPINGS[node_id]
    assert cls.CATEGORY == "DisCo"
    assert len(cls.DESCRIPTION) > 60
    assert callable(getattr(cls(), cls.FUNCTION))
    assert len(cls.RETURN_TYPES) == len(cls.RETURN_NAMES) == len(cls.OUTPUT_TOOLTIPS)
    spec = cls.INPUT_TYPES()
    assert set(spec) <= {"required", "optional", "hidden"}
    for section in ("required", "optional"):
        for name, entry in spec.get(section, {}).items():
            assert len(entry) == 2 and entry[1].get("tooltip"), f"{node_id}.{name} has no tooltip"


def test_numeric_tooltips_state_a_unit(pack, model_env):
    units = ("pixel", "count", "second", "0..1", "unitless", "multiplier", "integer", "fraction")
    for node_id, cls in pack.NODE_CLASS_MAPPINGS.items():
        for section in ("required", "optional"):
            for name, (kind, opts) in cls.INPUT_TYPES().get(section, {}).items():
                if kind in ("INT", "FLOAT"):
                    assert any(u in opts["tooltip"] for u in units), f"{node_id}.{name}: tooltip names no unit"


def test_glue_runs_without_comfyui(pack):
    from importlib import import_module

    glue = import_module(pack.__name__ + ".comfy_glue")
    assert glue.IN_COMFYUI is False
    assert glue.raise_if_interrupted() is False
    assert glue.preview_every(50) == 0
    glue.simple_progress(3)(1)  # no-op outside ComfyUI
