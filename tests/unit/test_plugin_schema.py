"""The plugin's package schema: generated from the resources' declarations, committed as schema.json."""

import json

import pytest

from snapshot_provider.plugin import package_schema
from snapshot_provider.plugin.package_schema import RESOURCES, SCHEMA_FILE, camel, schema_json, type_token


def committed() -> dict:
    return json.loads(SCHEMA_FILE.read_text())


def test_committed_schema_is_what_the_declarations_generate():
    assert SCHEMA_FILE.read_text() == schema_json(package_schema.version()), (
        "schema.json is stale: python -m snapshot_provider.plugin.package_schema"
    )


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.name)
def test_every_public_input_is_in_the_schema_with_its_declaration(resource):
    spec = committed()["resources"][type_token(resource)]
    public = dict(resource.schema.public())
    assert set(spec["inputProperties"]) == {camel(name) for name in public}
    for name, field in public.items():
        prop = spec["inputProperties"][camel(name)]
        assert prop["description"] == field.doc
        assert prop.get("secret", False) == field.secret, name
        assert prop.get("willReplaceOnChanges", False) == (field.on_change == "replace"), name
        required = field.required and field.program_default is None
        assert (camel(name) in spec["requiredInputs"]) == required, name


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.name)
def test_every_output_of_the_resource_class_is_a_schema_property(resource):
    spec = committed()["resources"][type_token(resource)]
    assert {camel(name) for name in resource.output_names()} <= set(spec["properties"])


def test_a_secret_input_stays_secret_among_the_outputs():
    spec = committed()["resources"]["ebs-snapshots:index:EbsSnapshot"]
    assert spec["inputProperties"]["externalId"]["secret"] is True
    assert spec["properties"]["externalId"]["secret"] is True


def test_an_internal_input_is_not_in_the_schema():
    spec = committed()["resources"]["ebs-snapshots:index:EbsSnapshot"]
    assert "resourceUrn" not in spec["inputProperties"]
    assert "resourceUrn" not in spec["properties"]


def test_types_follow_the_annotations():
    spec = committed()["resources"]["ebs-snapshots:index:EbsSnapshot"]
    assert spec["inputProperties"]["tags"] == {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": spec["inputProperties"]["tags"]["description"],
    }
    assert spec["inputProperties"]["timeout"]["type"] == "number"
    assert spec["inputProperties"]["allowedAccountIds"]["items"] == {"type": "string"}
    assert spec["properties"]["volumeSize"]["type"] == "integer"
    assert spec["properties"]["imported"]["type"] == "boolean"
