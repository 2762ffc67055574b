"""DisCo Cluster: the same settings give the same cluster across prompts (workers and model kept), new settings
shut the old one down; gpus_per_worker -1 means auto; without Ray it says how to install it."""
from __future__ import annotations

import sys

import pytest


def test_the_cluster_is_kept_across_prompts_and_replaced_when_settings_change(pack, monkeypatch):
    pytest.importorskip("ray")
    node = pack.NODE_CLASS_MAPPINGS["DisCoCluster"]()
    module = sys.modules[type(node).__module__]
    first = node.connect("local", 2, -1.0)[0]
    assert node.connect(" local ", 2, -1.0)[0] is first
    assert (first.address, first.workers, first.gpus_per_worker) == ("local", 2, None)  # -1 = auto
    stopped = []
    monkeypatch.setattr(type(first), "shutdown", lambda self: stopped.append(self))
    second = node.connect("local", 3, 0.0)[0]
    assert second is not first and stopped == [first]
    assert (second.workers, second.gpus_per_worker) == (3, 0.0)
    third = node.connect("ray://head:10001", 3, 0.0)[0]  # connects on first use: nothing is reached here
    assert third is not second and third.address == "ray://head:10001" and stopped == [first, second]
    module._shutdown_all()
    assert stopped == [first, second, third]


def test_a_bad_address_is_refused_before_the_run(pack):
    cls = pack.NODE_CLASS_MAPPINGS["DisCoCluster"]
    assert cls.VALIDATE_INPUTS("ray://head:10001") is True
    assert "must be local, auto or ray://HOST:PORT" in cls.VALIDATE_INPUTS("head:10001")


def test_a_linked_address_is_checked_when_the_node_runs(pack, core):
    """A widget linked from another node's output reaches VALIDATE_INPUTS as None (ComfyUI v0.3.64's
    execution.get_input_data): accepted there, refused by connect with the same message when it is wrong."""
    cls = pack.NODE_CLASS_MAPPINGS["DisCoCluster"]
    assert cls.VALIDATE_INPUTS(None) is True
    with pytest.raises(core.InputError, match=r"^address 'head:10001' must be local, auto or ray://HOST:PORT"):
        cls().connect("head:10001", 2, 0.0)


def test_the_cluster_node_without_ray_says_how_to_install_it(pack, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    node = pack.NODE_CLASS_MAPPINGS["DisCoCluster"]()
    with pytest.raises(ImportError, match=r"Ray is not installed.*pip install"):
        node.connect("local", 2, -1.0)


def test_every_address_form_the_tooltip_names_is_accepted(pack):
    cls = pack.NODE_CLASS_MAPPINGS["DisCoCluster"]
    for address in ("local", "auto", " auto ", "ray://10.0.0.5:10001"):
        assert cls.VALIDATE_INPUTS(address) is True, address
    for address in ("AUTO", "Local", "10.0.0.5:10001", ""):
        assert "must be local, auto or ray://HOST:PORT" in cls.VALIDATE_INPUTS(address), address


def test_one_worker_is_allowed_none_is_refused_with_the_number(pack, core, monkeypatch):
    """A linked `workers` skips the widget's min: connect checks it (the 1 is the smallest that works)."""
    node = pack.NODE_CLASS_MAPPINGS["DisCoCluster"]()
    module = sys.modules[type(node).__module__]
    made = []
    monkeypatch.setattr(module, "cluster_for", lambda *args: made.append(args) or "cluster")
    assert node.connect("local", 1, 0.0) == ("cluster",) and made == [("local", 1, 0.0)]
    for workers in (0, -2):
        with pytest.raises(core.InputError, match=rf"^workers must be at least 1, got {workers}$"):
            node.connect("local", workers, 0.0)
    assert len(made) == 1
