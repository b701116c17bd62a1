"""Template parsing: JSON and YAML bodies, short forms, and CloudFormation's structure errors."""

from __future__ import annotations

import json
import textwrap

import pytest

from ecslite.model.cfn import Template, TemplateError, check_resource_types, parse_template


def yaml_template(text: str) -> Template:
    return parse_template(textwrap.dedent(text))


def error_of(body: str) -> str:
    with pytest.raises(TemplateError) as caught:
        parse_template(textwrap.dedent(body))
    return caught.value.message


MINIMAL = {"Resources": {"Cluster": {"Type": "AWS::ECS::Cluster"}}}


def test_json_body_parses_to_doc_and_keeps_body() -> None:
    body = json.dumps(MINIMAL)
    template = parse_template(body)
    assert template.doc == MINIMAL
    assert template.body == body
    assert template.resources == MINIMAL["Resources"]
    assert template.resource_type("Cluster") == "AWS::ECS::Cluster"
    assert template.parameters == {} and template.outputs == {} and template.transform is None


def test_yaml_format_version_stays_a_string_and_times_stay_strings() -> None:
    template = yaml_template(
        """
        AWSTemplateFormatVersion: 2010-09-09
        Description: dates are text
        Resources:
          Rule:
            Type: AWS::Events::Rule
            Properties:
              Start: 2024-01-02T03:04:05Z
              At: 12:30:00
              Port: 8080
              Ratio: 0.5
              Enabled: true
        """
    )
    assert template.doc["AWSTemplateFormatVersion"] == "2010-09-09"
    assert template.description == "dates are text"
    properties = template.resources["Rule"]["Properties"]
    assert properties == {
        "Start": "2024-01-02T03:04:05Z",
        "At": "12:30:00",
        "Port": 8080,
        "Ratio": 0.5,
        "Enabled": True,
    }


def test_yaml_mapping_keys_become_strings() -> None:
    template = yaml_template(
        """
        Mappings:
          Sizes:
            64: {Bits: large}
            true: {Bits: yes-key}
        Resources:
          Cluster: {Type: AWS::ECS::Cluster}
        """
    )
    assert template.mappings == {"Sizes": {"64": {"Bits": "large"}, "true": {"Bits": "yes-key"}}}


def test_yaml_short_forms_expand_to_long_forms() -> None:
    template = yaml_template(
        """
        Parameters:
          Env: {Type: String}
        Conditions:
          IsProd: !Equals [!Ref Env, prod]
          NotProd: !Not [!Condition IsProd]
          Both: !And [!Condition IsProd, !Or [!Condition NotProd, !Condition IsProd]]
        Mappings:
          M: {a: {b: c}}
        Resources:
          Db:
            Type: AWS::RDS::DBInstance
          Thing:
            Type: Custom::Thing
            Properties:
              A: !Ref Env
              B: !GetAtt Db.Endpoint.Address
              C: !GetAtt [Db, Port]
              D: !Sub "${Env}-${AWS::Region}"
              E: !Sub
                - "${Name}.${Db.Port}"
                - Name: !Join ["-", [a, !Ref Env]]
              F: !Select [1, !Split [",", "x,y"]]
              G: !If [IsProd, !Base64 text, !Ref AWS::NoValue]
              H: !FindInMap [M, a, b]
              I: !GetAZs ""
              J: !ImportValue shared-vpc
              K: !Cidr ["10.0.0.0/16", 2, 8]
              L: !Length [1, 2]
              N: !ToJsonString {a: b}
        """
    )
    assert template.conditions == {
        "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
        "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
        "Both": {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Or": [{"Condition": "NotProd"}, {"Condition": "IsProd"}]}]},
    }
    assert template.resources["Thing"]["Properties"] == {
        "A": {"Ref": "Env"},
        "B": {"Fn::GetAtt": ["Db", "Endpoint.Address"]},
        "C": {"Fn::GetAtt": ["Db", "Port"]},
        "D": {"Fn::Sub": "${Env}-${AWS::Region}"},
        "E": {"Fn::Sub": ["${Name}.${Db.Port}", {"Name": {"Fn::Join": ["-", ["a", {"Ref": "Env"}]]}}]},
        "F": {"Fn::Select": [1, {"Fn::Split": [",", "x,y"]}]},
        "G": {"Fn::If": ["IsProd", {"Fn::Base64": "text"}, {"Ref": "AWS::NoValue"}]},
        "H": {"Fn::FindInMap": ["M", "a", "b"]},
        "I": {"Fn::GetAZs": ""},
        "J": {"Fn::ImportValue": "shared-vpc"},
        "K": {"Fn::Cidr": ["10.0.0.0/16", 2, 8]},
        "L": {"Fn::Length": [1, 2]},
        "N": {"Fn::ToJsonString": {"a": "b"}},
    }


def test_json_and_yaml_forms_of_one_template_give_the_same_doc() -> None:
    yaml_doc = yaml_template(
        """
        Resources:
          Role: {Type: AWS::IAM::Role}
          Service:
            Type: AWS::ECS::Service
            DependsOn: Role
            Properties:
              Role: !GetAtt Role.Arn
              Name: !Sub ["${X}", {X: !Ref Role}]
        """
    ).doc
    json_doc = parse_template(
        json.dumps(
            {
                "Resources": {
                    "Role": {"Type": "AWS::IAM::Role"},
                    "Service": {
                        "Type": "AWS::ECS::Service",
                        "DependsOn": "Role",
                        "Properties": {
                            "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                            "Name": {"Fn::Sub": ["${X}", {"X": {"Ref": "Role"}}]},
                        },
                    },
                }
            }
        )
    ).doc
    assert yaml_doc == json_doc


def test_yaml_flow_mapping_body_is_read_as_yaml() -> None:
    template = parse_template("{Resources: {Cluster: {Type: AWS::ECS::Cluster}}}")
    assert template.doc == MINIMAL


def test_transform_is_kept() -> None:
    template = yaml_template(
        """
        Transform: AWS::LanguageExtensions
        Resources:
          Cluster: {Type: AWS::ECS::Cluster}
        """
    )
    assert template.transform == "AWS::LanguageExtensions"
    assert template.transforms == ["AWS::LanguageExtensions"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"Resources": ', "Template format error: JSON not well-formed. (line 1, column 15)"),
        ('{\n  "Resources": {,}\n}', "Template format error: JSON not well-formed. (line 2, column 17)"),
        ("Resources:\n  A: [\n", "Template format error: YAML not well-formed. (line 3, column 1)"),
        ("Resources:\n  A: !Bogus x\n", "Template format error: YAML not well-formed. (line 2, column 6)"),
        ("Resources: {}", "Template format error: At least one Resources member must be defined."),
        ("Description: x", "Template format error: At least one Resources member must be defined."),
        (
            "Resource:\n  A: {Type: AWS::ECS::Cluster}",
            "Template format error: Invalid template property or properties [Resource]",
        ),
        (
            "Resources:\n  A: {Properties: {}}",
            "Template format error: Every Resources object must contain a Type member.",
        ),
        (
            "Resources:\n  A: {Type: AWS::ECS::Cluster, Propertie: {}}",
            "Template format error: Invalid template resource property 'Propertie'",
        ),
        (
            "Resources:\n  my-res: {Type: AWS::ECS::Cluster}",
            "Template format error: Resource name my-res is non alphanumeric.",
        ),
        (
            "Resources:\n  A: {Type: Cluster}\n  B: {Type: AWS::ECS}\n  C: {Type: Cluster}",
            "Template format error: Unrecognized resource types: [AWS::ECS, Cluster]",
        ),
        (
            "Resources:\n  A: {Type: AWS::ECS::Cluster, Properties: {Name: !Ref [x]}}",
            "Template format error: Every Ref object must have a single String value.",
        ),
        (
            "Resources:\n  A: {Type: AWS::ECS::Cluster, Properties: {Name: !Ref Nope, Other: !Sub '${Gone}'}}",
            "Template format error: Unresolved resource dependencies [Gone, Nope] in the Resources block"
            " of the template",
        ),
        (
            "Resources:\n  A: {Type: AWS::ECS::Cluster, DependsOn: [Missing]}",
            "Template format error: Unresolved resource dependencies [Missing] in the Resources block of the template",
        ),
        (
            "Resources:\n  A: {Type: AWS::ECS::Cluster, Properties: {Arn: !GetAtt Nope.Arn}}",
            "Template error: instance of Fn::GetAtt references undefined resource Nope",
        ),
        (
            "Resources:\n  A: {Type: AWS::ECS::Cluster, Properties: {Arn: !Sub '${Nope.Arn}'}}",
            "Template error: instance of Fn::GetAtt references undefined resource Nope",
        ),
        (
            "Resources:\n  A: {Type: AWS::ECS::Cluster, Properties: {Arn: !GetAtt [A]}}",
            "Template error: every Fn::GetAtt object requires two non-empty parameters",
        ),
        (
            "Resources:\n  A: {Type: AWS::ECS::Cluster, Properties: {X: !If [Nope, a, b]}}",
            "Template error: unresolved condition dependency Nope in Fn::If",
        ),
        (
            "Resources:\n  A: {Type: AWS::ECS::Cluster, Properties: {X: {'Fn::Nope': 1}}}",
            "Template error: Encountered unsupported function: Fn::Nope Supported functions are: [Condition, Fn::And,"
            " Fn::Base64, Fn::Cidr, Fn::Equals, Fn::FindInMap, Fn::GetAZs, Fn::GetAtt, Fn::If, Fn::ImportValue,"
            " Fn::Join, Fn::Length, Fn::Not, Fn::Or, Fn::Select, Fn::Split, Fn::Sub, Fn::ToJsonString, Fn::Transform,"
            " Ref]",
        ),
        (
            "Resources:\n  A: {Type: AWS::ECS::Cluster, Properties: {X: !Sub '${a-b}'}}",
            "Template error: variable names in Fn::Sub syntax must contain only alphanumeric characters, underscores,"
            " periods, and colons",
        ),
        (
            "Resources:\n  A: {Type: AWS::ECS::Cluster, Properties: {Name: }}",
            "Template format error: [/Resources/A/Properties/Name] 'null' values are not allowed in templates",
        ),
        (
            "Parameters:\n  P: {Default: x}\nResources:\n  A: {Type: AWS::ECS::Cluster}",
            "Template format error: Every Parameters object must contain a Type member.",
        ),
        (
            "Parameters:\n  P: {Type: Strin}\nResources:\n  A: {Type: AWS::ECS::Cluster}",
            "Template format error: Unrecognized parameter type: Strin",
        ),
        (
            "Mappings:\n  M: [a]\nResources:\n  A: {Type: AWS::ECS::Cluster}",
            "Template format error: Every Mappings member M must be a map",
        ),
        (
            "Conditions:\n  C: !Equals [!Ref A, x]\nResources:\n  A: {Type: AWS::ECS::Cluster}",
            "Template format error: Unresolved dependencies [A]. Cannot reference resources in the Conditions block"
            " of the template",
        ),
        (
            "Resources:\n  A: {Type: AWS::ECS::Cluster}\nOutputs:\n  O: {Description: x}",
            "Template format error: Every Outputs member must contain a Value object",
        ),
        (
            "Resources:\n  A: {Type: AWS::ECS::Cluster}\nOutputs:\n  O: {Value: !Ref B}",
            "Template format error: Unresolved resource dependencies [B] in the Outputs block of the template",
        ),
        (
            "Resources:\n  A: {Type: AWS::ECS::Cluster}\nOutputs:\n  O: {Value: !GetAtt B.Arn}",
            "Template error: instance of Fn::GetAtt references undefined resource B",
        ),
    ],
)
def test_structure_errors_use_cloudformation_texts(body: str, message: str) -> None:
    assert error_of(body) == message


def test_ref_to_parameters_pseudo_parameters_and_resources_is_accepted() -> None:
    template = yaml_template(
        """
        Parameters:
          Env: {Type: String}
        Conditions:
          East: !Equals [!Ref "AWS::Region", us-east-1]
        Resources:
          A:
            Type: AWS::ECS::Cluster
            Condition: East
            Properties:
              Name: !Sub "${Env}-${AWS::StackName}-${!Literal}"
              Other: !Ref AWS::NoValue
          B:
            Type: AWS::ECS::Cluster
            DependsOn: [A]
            Properties: {Arn: !GetAtt A.Arn, Id: !Ref A}
        Outputs:
          Out: {Value: !Ref B, Export: {Name: !Sub "${AWS::StackName}-b"}}
        """
    )
    assert set(template.resources) == {"A", "B"}


def test_body_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(TemplateError) as caught:
        parse_template("- a\n- b\n")
    assert caught.value.message.startswith("Template format error:")


def test_check_resource_types_names_each_unsupported_type_once_sorted() -> None:
    template = yaml_template(
        """
        Resources:
          A: {Type: AWS::RDS::DBInstance}
          B: {Type: AWS::ECS::Cluster}
          C: {Type: AWS::S3::Bucket}
          D: {Type: AWS::RDS::DBInstance}
        """
    )
    check_resource_types(template, {"AWS::ECS::Cluster", "AWS::S3::Bucket", "AWS::RDS::DBInstance"})
    with pytest.raises(TemplateError) as caught:
        check_resource_types(template, {"AWS::ECS::Cluster"})
    assert caught.value.message.startswith(
        "Template format error: Unrecognized resource types: [AWS::RDS::DBInstance, AWS::S3::Bucket]"
    )
