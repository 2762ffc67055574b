"""pytest plugin for mutation runs only (`[tool.mutmut]` in pyproject.toml loads it with `-p`).

The node tests import the repository the way ComfyUI does, as a package named after its folder
(tests/nodes/conftest.py, PACK_NAME), so a node module is `disco_comfy_pack.nodes.sampler` at run time, while
mutmut names its mutants after the file (`nodes.sampler`). Without this mapping no mutant of nodes/ (nor of
disco_core reached through the pack) would ever be switched on by a node test, and every one would "survive".
"""
from __future__ import annotations

import mutmut.mutation.trampoline as trampoline

from tests.nodes.conftest import PACK_NAME

PREFIX = PACK_NAME + "."


class _ModuleName(str):
    """A module name equal to itself and to itself under the pack's name."""

    def __eq__(self, other):
        return str.__eq__(self, other) or (isinstance(other, str) and str.__eq__(PREFIX + self, other))

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = str.__hash__


class _MutantName(str):
    def rpartition(self, sep):
        module, found, name = str.rpartition(self, sep)
        return _ModuleName(module), found, name


_get_mutant_under_test = trampoline.get_mutant_under_test
_record_trampoline_hit = trampoline.record_trampoline_hit


def _mutant_under_test() -> str:
    return _MutantName(_get_mutant_under_test())


def _record(name: str, caller: str | None = None) -> None:
    _record_trampoline_hit(name.removeprefix(PREFIX), caller=None if caller is None else caller.removeprefix(PREFIX))


trampoline.get_mutant_under_test = _mutant_under_test
trampoline.record_trampoline_hit = _record
