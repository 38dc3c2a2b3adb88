"""Backstop's AWS operators hold parity with the amazon provider's AwsBaseOperator and RDS operators.

Every operator class is found by importing all of plugins/backstop and walking the subclasses of
BackstopAwsOperator (tests/airflow/operator_catalog.py), so a new operator is checked without
being listed here. The provider's own objects are the reference: `AwsBaseOperator.__init__`,
`aws_template_fields`, `AwsBaseHookMixin._hook_parameters`, the RDS operators' signatures.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys

import pytest
from airflow.providers.amazon.aws.operators import rds as provider_rds
from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import AwsBaseHookMixin, aws_template_fields
from airflow.sdk import BaseOperator

from backstop.airflow.operators import BackstopAwsOperator, DeferrableAwsOperator
from backstop.airflow.operators import aws_template_fields as backstop_aws_template_fields
from tests.airflow.operator_catalog import (
    AWS_ARGS,
    ROOT,
    build,
    constructor_parameters,
    expected_region,
    operator_classes,
)

AWS_PARAMETERS = ("aws_conn_id", "region_name", "verify", "botocore_config")
WAITER_PARAMETERS = {"deferrable", "waiter_delay", "waiter_max_attempts"}
WAITER_LIKE = re.compile(r"wait|poll|attempt|interval|deferr")

OPERATORS = operator_classes()


def _id(cls: type) -> str:
    return cls.__qualname__


def test_the_walk_finds_every_slice():
    modules = {cls.__module__ for cls in OPERATORS}
    assert {
        "backstop.airflow.operators",
        "backstop.snapshots.create",
        "backstop.snapshots.copy",
        "backstop.retention.operators",
        "backstop.drills.restore",
        "backstop.tfstate.backup",
        "backstop.tfstate.restore",
    } <= modules
    assert {BackstopAwsOperator, DeferrableAwsOperator} <= set(OPERATORS)


@pytest.mark.parametrize("cls", [BackstopAwsOperator, DeferrableAwsOperator], ids=_id)
def test_base_constructors_take_the_providers_aws_parameters(cls):
    provider = constructor_parameters(AwsBaseOperator, BaseOperator)
    ours = constructor_parameters(cls, BaseOperator)
    for name in AWS_PARAMETERS:
        assert name in ours, name
        assert ours[name].default == provider[name].default, name
        assert ours[name].kind is provider[name].kind is inspect.Parameter.KEYWORD_ONLY, name


@pytest.mark.parametrize("cls", OPERATORS, ids=_id)
def test_no_operator_redeclares_an_aws_parameter_differently(cls):
    provider = constructor_parameters(AwsBaseOperator, BaseOperator)
    ours = constructor_parameters(cls, BaseOperator)
    for name in AWS_PARAMETERS:
        assert name in ours, f"{cls.__qualname__} cannot take {name}"
        assert ours[name].default == provider[name].default, name


@pytest.mark.parametrize("cls", OPERATORS, ids=_id)
def test_template_fields_are_the_providers_aws_template_fields(cls):
    own = [f for f in cls.template_fields if f not in {"aws_conn_id", "region_name", "verify"}]
    assert tuple(cls.template_fields) == aws_template_fields(*own)


def test_backstops_aws_template_fields_is_the_providers_rule():
    for fields in [(), ("plan",), ("spec", "task_ids"), ("verify", "b", "a")]:
        assert backstop_aws_template_fields(*fields) == aws_template_fields(*fields)


@pytest.mark.parametrize("cls", OPERATORS, ids=_id)
def test_hook_is_built_from_the_providers_hook_parameters(cls):
    op = build(cls)
    AwsBaseHookMixin.validate_attributes(op)  # aws_hook_class is an AwsGenericHook subclass
    expected = {
        "aws_conn_id": AWS_ARGS["aws_conn_id"],
        "region_name": expected_region(cls),
        "verify": AWS_ARGS["verify"],
        "config": AWS_ARGS["botocore_config"],
    }
    assert op._hook_parameters == AwsBaseHookMixin._hook_parameters.fget(op) == expected
    hook = op.hook
    assert type(hook) is op.aws_hook_class
    assert (hook.aws_conn_id, hook.region_name, hook.verify) == (
        expected["aws_conn_id"],
        expected["region_name"],
        expected["verify"],
    )
    assert hook.config.retries == AWS_ARGS["botocore_config"]["retries"]


def test_waiter_parameters_are_named_as_in_the_providers_rds_operators():
    deferrable_rds = [
        cls
        for cls in vars(provider_rds).values()
        if isinstance(cls, type)
        and issubclass(cls, provider_rds.RdsBaseOperator)
        and "deferrable" in inspect.signature(cls.__init__).parameters
    ]
    assert len(deferrable_rds) >= 4  # create/delete/start/stop instance
    for cls in deferrable_rds:
        assert WAITER_PARAMETERS <= set(inspect.signature(cls.__init__).parameters), cls.__name__
    assert WAITER_PARAMETERS == set(inspect.signature(DeferrableAwsOperator.__init__).parameters) - {
        "self",
        "kwargs",
    }


@pytest.mark.parametrize("cls", OPERATORS, ids=_id)
def test_no_operator_invents_its_own_waiter_parameter(cls):
    names = {n for n in constructor_parameters(cls, BaseOperator) if WAITER_LIKE.search(n)}
    assert names <= WAITER_PARAMETERS, f"{cls.__qualname__}: {sorted(names - WAITER_PARAMETERS)}"


def test_building_every_operator_does_not_import_boto3(tmp_path):
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),
    }
    out = subprocess.run(
        [sys.executable, "-m", "tests.airflow.operator_catalog"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert sorted(result["built"]) == sorted(cls.__name__ for cls in OPERATORS)
    assert result["heavy_modules"] == []
