"""The plan: settings validation and the ordered jobs, with Hydra's own override parser."""

from __future__ import annotations

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from seedsweep.plan import PlanError
from seedsweep.plan import build_plan
from seedsweep.plan import compare_plans
from seedsweep.plan import parse_seeds
from seedsweep.plan import validate_settings


def plan_for(arguments, seed_key_in_config=True, params=None, **settings):
    return build_plan(
        arguments,
        params,
        validate_settings(settings),
        OverridesParser.create(),
        seed_key_in_config=seed_key_in_config,
    )


def test_seeds_count_and_list():
    assert parse_seeds(3) == (0, 1, 2)
    assert parse_seeds([7, 3]) == (7, 3)
    assert parse_seeds(None) is None


@pytest.mark.parametrize(
    "seeds, expected",
    [
        (0, "got 0"),
        (-1, "got -1"),
        ([1, 1], "seed 1 appears more than once"),
        ("x", "got 'x'"),
        ([], "empty list"),
        (True, "got True"),
        ([0, 1.5], "got 1.5"),
    ],
)
def test_seeds_invalid(seeds, expected):
    with pytest.raises(PlanError) as error:
        parse_seeds(seeds)
    assert "positive count or a list of distinct ints" in str(error.value)
    assert expected in str(error.value)


@pytest.mark.parametrize(
    "setting, value, expected",
    [
        ("direction", "up", "minimize or maximize, got 'up'"),
        ("scale", "cubic", "auto or linear or log"),
        ("verdict_rule", "loose", "seed or strict"),
        ("on_failure", "ignore", "continue or stop"),
        ("t_threshold", -1, "positive number"),
        ("divergence", float("nan"), "finite number"),
        ("max_batch_size", 0, "positive int"),
        ("seed_key", "", "config key"),
    ],
)
def test_settings_invalid(setting, value, expected):
    with pytest.raises(PlanError) as error:
        validate_settings({setting: value})
    assert setting in str(error.value)
    assert expected in str(error.value)


def test_jobs_seed_major():
    plan = plan_for(["lr=1e-4,1e-3", "epochs=3"], seeds=2)

    overrides = [list(job.overrides) for job in plan.jobs]
    assert overrides == [
        ["lr=0.0001", "epochs=3", "seed=0"],
        ["lr=0.001", "epochs=3", "seed=0"],
        ["lr=0.0001", "epochs=3", "seed=1"],
        ["lr=0.001", "epochs=3", "seed=1"],
    ]
    assert [job.seed for job in plan.jobs] == [0, 0, 1, 1]
    assert [job.job for job in plan.jobs] == [0, 1, 2, 3]
    assert plan.params == {"lr": [0.0001, 0.001]}
    assert plan.study_params == ("lr",)


def test_seed_added_when_not_in_config():
    plan = plan_for(["x=1,2"], seed_key_in_config=False, seeds=1)
    assert plan.jobs[0].overrides == ("x=1", "++seed=0")


def test_seed_swept_on_command_line_is_the_axis():
    plan = plan_for(["seed=4,2", "lr=1,2"], seeds=5)

    assert plan.seeds == (4, 2)
    assert [job.seed for job in plan.jobs] == [4, 4, 2, 2]
    assert plan.jobs[0].overrides == ("lr=1", "seed=4")


def test_seed_axis_must_be_distinct_ints():
    with pytest.raises(PlanError, match="distinct ints"):
        plan_for(["seed=a,b", "lr=1,2"])


def test_no_seed_axis_matches_basic_sweeper():
    plan = plan_for(["a=1,2", "b=x,y"], seeds=None)

    overrides = [list(job.overrides) for job in plan.jobs]
    assert overrides == [["a=1", "b=x"], ["a=1", "b=y"], ["a=2", "b=x"], ["a=2", "b=y"]]
    assert all(job.seed is None for job in plan.jobs)


def test_jobs_to_compose_cover_seeds():
    plan = plan_for(["lr=1,2,3", "wd=0,1"], seeds=[5, 7, 9])
    checked = plan.jobs_to_compose()

    assert [job.job for job in checked] == [0, 1, 2, 3, 4, 5, 6, 12]
    assert {job.overrides[:-1] for job in checked} == {job.overrides[:-1] for job in plan.jobs}
    assert {job.overrides[-1] for job in checked} == {"seed=5", "seed=7", "seed=9"}


def test_jobs_to_compose_without_seeds():
    plan = plan_for(["a=1,2", "b=x,y"], seeds=None)
    assert plan.jobs_to_compose() == plan.jobs


def test_range_and_choice_sweeps():
    plan = plan_for(["a=range(1,4)", "b=choice(x,y)"], seeds=1)
    assert plan.params == {"a": [1, 2, 3], "b": ["x", "y"]}


def test_params_from_config():
    plan = plan_for([], params={"lr": "0.1,0.2"}, seeds=1)
    assert plan.params == {"lr": [0.1, 0.2]}


def test_nothing_swept():
    with pytest.raises(PlanError, match="no study parameter is swept"):
        plan_for(["lr=0.1"], seeds=3)


def test_only_groups_swept():
    with pytest.raises(PlanError, match="no study parameter is swept"):
        plan_for(["model=a,b"], groups=["model"], seeds=3)


def test_group_not_swept():
    with pytest.raises(PlanError, match="names 'model', which is not swept"):
        plan_for(["lr=1,2"], groups=["model"], seeds=3)


def test_interval_sweep_rejected():
    with pytest.raises(PlanError, match="sweep of type interval"):
        plan_for(["lr=interval(0,1)"], seeds=3)


def test_batches():
    plan = plan_for(["x=1,2,3"], seeds=2, max_batch_size=4)
    assert [len(batch) for batch in plan.batches] == [4, 2]


def test_compare_plans():
    recorded = plan_for(["x=1,2"], seeds=2).to_dict()

    assert compare_plans(recorded, plan_for(["x=1,2"], seeds=2).to_dict()) == []
    assert "seeds" in compare_plans(recorded, plan_for(["x=1,2"], seeds=3).to_dict())[0]
    assert "params" in compare_plans(recorded, plan_for(["x=1,3"], seeds=2).to_dict())[0]
    assert "metric" in compare_plans(recorded, plan_for(["x=1,2"], seeds=2, metric="m").to_dict())[0]
    assert "job overrides" in compare_plans(recorded, plan_for(["x=1,2", "y=0"], seeds=2).to_dict())[0]


def test_baseline_must_be_swept():
    assert plan_for(["lr=1e-4,1e-3"], baseline=0.001, seeds=2).settings.baseline == 0.001

    with pytest.raises(PlanError, match="`hydra.sweeper.baseline` is 5, which is not a swept value"):
        plan_for(["lr=1e-4,1e-3"], baseline=5, seeds=2)
