"""Dependencies between resources and outputs, the order they give, and cycles."""

from __future__ import annotations

import textwrap

import pytest

from ecslite.model.cfn import (
    TemplateError,
    evaluate_conditions,
    get_att_uses,
    output_dependencies,
    parse_template,
    resource_dependencies,
    topological_order,
)
from ecslite.model.cfn.graph import cycle_members
from ecslite.model.cfn.template import Template

PSEUDO = {"AWS::Region": "us-east-1", "AWS::StackName": "demo"}

STACK = """
Parameters:
  Env: {Type: String, Default: prod}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
Resources:
  Role: {Type: AWS::IAM::Role}
  Logs: {Type: AWS::Logs::LogGroup}
  Cluster:
    Type: AWS::ECS::Cluster
    Properties:
      Name: !Sub "${AWS::StackName}-${Env}"
  Task:
    Type: AWS::ECS::TaskDefinition
    Properties:
      ExecutionRoleArn: !GetAtt Role.Arn
      Containers:
        - LogGroup: !Sub "${Logs}"
          Extra: !If [IsDev, !Ref DevOnly, !Ref AWS::NoValue]
  DevOnly:
    Type: AWS::SSM::Parameter
    Condition: IsDev
  ProdOnly:
    Type: AWS::SSM::Parameter
    Condition: IsProd
    Metadata: {Note: !Sub ["${X}", {X: !GetAtt Cluster.Arn}]}
  Service:
    Type: AWS::ECS::Service
    DependsOn: [ProdOnly]
    Properties:
      Cluster: !Ref Cluster
      TaskDefinition: !Sub "${Task}"
Outputs:
  ClusterArn: {Value: !GetAtt Cluster.Arn}
  Both: {Value: !Join [",", [!Ref Service, !Ref Env, !Ref "AWS::Region"]], Export: {Name: !Sub "${Role}-x"}}
  DevOut: {Value: !Ref DevOnly, Condition: IsDev}
"""


def stack(body: str = STACK) -> Template:
    return parse_template(textwrap.dedent(body))


def test_resource_dependencies_follow_taken_branches_and_skip_parameters() -> None:
    template = stack()
    conditions = evaluate_conditions(template, {"Env": "prod"}, PSEUDO)
    assert resource_dependencies(template, conditions) == {
        "Role": set(),
        "Logs": set(),
        "Cluster": set(),
        "Task": {"Role", "Logs"},
        "ProdOnly": {"Cluster"},
        "Service": {"Cluster", "Task", "ProdOnly"},
    }
    assert output_dependencies(template, conditions) == {"ClusterArn": {"Cluster"}, "Both": {"Service", "Role"}}


def test_reference_to_a_resource_left_out_by_its_condition_is_refused() -> None:
    template = stack()
    conditions = evaluate_conditions(template, {"Env": "dev"}, PSEUDO)
    # Service DependsOn ProdOnly, which the dev stack does not have.
    with pytest.raises(TemplateError) as caught:
        resource_dependencies(template, conditions)
    assert caught.value.message == (
        "Template format error: Unresolved resource dependencies [ProdOnly] in the Resources block of the template"
    )


def test_taken_branch_brings_its_resource_in() -> None:
    template = stack(STACK.replace("    DependsOn: [ProdOnly]\n", ""))
    conditions = evaluate_conditions(template, {"Env": "dev"}, PSEUDO)
    graph = resource_dependencies(template, conditions)
    assert graph["Task"] == {"Role", "Logs", "DevOnly"}
    assert "ProdOnly" not in graph
    assert output_dependencies(template, conditions)["DevOut"] == {"DevOnly"}


def test_output_referring_to_a_left_out_resource_is_refused() -> None:
    template = stack(STACK + "  Bad: {Value: !Ref ProdOnly}\n")
    conditions = evaluate_conditions(template, {"Env": "dev"}, PSEUDO)
    with pytest.raises(TemplateError) as caught:
        output_dependencies(template, conditions)
    assert caught.value.message == (
        "Template format error: Unresolved resource dependencies [ProdOnly] in the Outputs block of the template"
    )


def test_order_puts_every_resource_after_what_it_needs() -> None:
    template = stack()
    graph = resource_dependencies(template, evaluate_conditions(template, {"Env": "prod"}, PSEUDO))
    order = topological_order(graph)
    assert order == ["Cluster", "Logs", "ProdOnly", "Role", "Task", "Service"]


@pytest.mark.parametrize(
    ("resources", "cycle"),
    [
        ("A: {Type: AWS::X::Y, DependsOn: B}\n  B: {Type: AWS::X::Y, Properties: {P: !Ref A}}", "[A, B]"),
        ("A: {Type: AWS::X::Y, Properties: {P: !GetAtt A.Arn}}", "[A]"),
        (
            "C: {Type: AWS::X::Y, Properties: {P: !Sub '${A.Arn}'}}\n"
            "  A: {Type: AWS::X::Y, Properties: {P: !Sub '${B}'}}\n"
            "  B: {Type: AWS::X::Y, DependsOn: [C]}\n"
            "  D: {Type: AWS::X::Y, DependsOn: [C]}",
            "[A, B, C]",
        ),
    ],
)
def test_cycles_are_refused_naming_their_members(resources: str, cycle: str) -> None:
    template = stack(f"Resources:\n  {resources}\n")
    with pytest.raises(TemplateError) as caught:
        resource_dependencies(template, {})
    assert caught.value.message == f"Circular dependency between resources: {cycle}"


def test_cycle_members_on_a_long_chain_does_not_overflow() -> None:
    graph = {f"N{index}": {f"N{index + 1}"} for index in range(5000)}
    graph["N5000"] = set()
    assert cycle_members(graph) == set()
    graph["N5000"] = {"N0"}
    assert len(cycle_members(graph)) == 5001
    with pytest.raises(TemplateError):
        topological_order(graph)


def test_get_att_uses_lists_written_attribute_names_in_every_branch() -> None:
    template = stack(
        STACK + "  Sub: {Value: !Sub '${Task.Arn}/${Role.RoleId}'}\n" + "  Dynamic: {Value: !GetAtt [Role, !Ref Env]}\n"
    )
    assert get_att_uses(template) == {
        ("Role", "Arn"),
        ("Cluster", "Arn"),
        ("Task", "Arn"),
        ("Role", "RoleId"),
    }
