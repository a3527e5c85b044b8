"""A fast subset of the bad-input probe (``python -m tests.probe.bad_inputs``) through the real command line."""

from __future__ import annotations

import pytest

from .probe.bad_inputs import FAST, PASSWORD, Case, run_case


@pytest.mark.slow
@pytest.mark.parametrize("case", FAST, ids=lambda case: case.name)
def test_bad_input_exits_2_naming_field_and_value_without_traceback_or_writing(case: Case) -> None:
    outcome = run_case(case)
    assert outcome.code == 2, outcome.message
    assert not outcome.traceback, outcome.message
    assert not outcome.written, f"wrote {outcome.written}"
    assert outcome.names_field and outcome.names_value, f"{case.names!r}, {case.value!r} not in {outcome.message}"
    assert not outcome.password, f"printed {PASSWORD!r}"


def test_the_probe_has_at_least_80_inputs_across_recipe_data_and_command_line() -> None:
    from .probe.bad_inputs import CASES

    assert len(CASES) >= 80
    assert {case.args[0] for case in CASES} >= {"tune", "worker", "promote", "rollback", "train", "retune",
                                                 "studies", "report"}
